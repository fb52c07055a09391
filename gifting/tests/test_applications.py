"""Creators join: the platform's facts, the rule in force, and the decision."""

import datetime

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.roles import FINANCE, SUPPORT
from core.errors import ServiceError
from gifting.eligibility import rule_in_force
from gifting.models import AccountFacts, CreatorApplication, CreatorProfile
from gifting.services.applications import (
    FactsReport,
    account_facts_report,
    creator_application_approve,
    creator_application_refuse,
    creator_application_submit,
    eligibility_rule_set,
)
from wallets.tests.factories import region_create, staff_create, user_create

from .factories import creator_create

pytestmark = pytest.mark.django_db

Status = CreatorApplication.Status
NOW = timezone.now()
ADULT = datetime.date(1990, 1, 1)


def report(user, *, followers=5000, born=ADULT, suspended=False, region=None, ago=0):
    account_facts_report(
        reports=[
            FactsReport(
                user_id=user.pk,
                follower_count=followers,
                birth_date=born,
                suspended=suspended,
                region=region,
                as_of=NOW - datetime.timedelta(days=ago),
            )
        ],
        now=NOW,
    )


def apply(user, name="Mia"):
    return creator_application_submit(user=user, display_name=name, now=NOW)


def rule(*, region=None, actor=None, **terms):
    fields = {
        "min_age": 18,
        "min_followers": 1000,
        "review_all": False,
        "facts_max_age_days": 30,
        **terms,
    }
    return eligibility_rule_set(
        region=region,
        actor=actor or staff_create(FINANCE),
        reason="policy",
        now=NOW - datetime.timedelta(hours=1),
        effective_from=NOW - datetime.timedelta(hours=1),
        **fields,
    )


def test_an_adult_with_followers_is_a_creator_at_once():
    user = user_create(birth_date=None)
    report(user, followers=1000)
    application = apply(user)
    assert application.status == Status.APPROVED
    creator = CreatorProfile.objects.get(user=user)
    assert application.creator == creator
    assert (creator.display_name, creator.follower_count) == ("Mia", 1000)
    assert creator.level.number == 1
    # The platform's birth date is where the gift-time rule reads it.
    user.refresh_from_db()
    assert user.birth_date == ADULT
    assert creator.ineligibility_reason(NOW.date()) is None


def test_every_reason_is_given_when_refused():
    user = user_create()
    report(
        user, followers=999, born=NOW.date().replace(year=NOW.year - 17), suspended=True
    )
    application = apply(user)
    assert application.status == Status.REFUSED
    assert [reason["code"] for reason in application.reasons] == [
        "too_young",
        "too_few_followers",
        "suspended",
    ]
    assert "1,000 followers" in application.reasons[1]["message"]
    assert not CreatorProfile.objects.filter(user=user).exists()


def test_no_facts_or_no_birth_date_or_stale_facts_go_to_review():
    nothing, unborn, stale = user_create(), user_create(), user_create()
    report(unborn, born=None)
    report(stale, ago=31)
    assert [apply(user).review_reason for user in (nothing, unborn, stale)] == [
        "The platform has reported no facts for this account.",
        "The platform has not reported a birth date.",
        "The platform's facts are 31 days old (at most 30).",
    ]
    assert CreatorApplication.objects.filter(status=Status.PENDING).count() == 3
    assert not CreatorProfile.objects.exists()


def test_a_rule_can_send_every_application_to_review():
    rule(review_all=True)
    user = user_create()
    report(user)
    application = apply(user)
    assert application.status == Status.PENDING
    assert application.review_reason == "The rule sends every application to review."


def test_a_region_rule_overrides_the_global_one_for_its_region_only():
    rule(min_followers=1000)
    de = region_create("DE", currency="EUR")
    strict = rule(region=de, min_followers=10_000, min_age=21)
    german, american = user_create(), user_create()
    report(german, followers=5000, region=de)
    report(american, followers=5000, region=region_create("US"))
    refused, approved = apply(german), apply(american)
    assert refused.status == Status.REFUSED
    assert refused.rule == strict
    assert "10,000 followers" in refused.reasons[0]["message"]
    assert refused.rule_terms.startswith("21+, 10,000 followers")
    assert approved.status == Status.APPROVED


def test_a_rule_starting_later_does_not_apply_yet():
    later = eligibility_rule_set(
        region=None,
        min_age=18,
        min_followers=50_000,
        review_all=False,
        facts_max_age_days=30,
        reason="from next month",
        actor=staff_create(FINANCE),
        effective_from=NOW + datetime.timedelta(days=30),
        now=NOW,
    )
    assert rule_in_force(region_id=None, now=NOW).pk is None  # the default
    assert rule_in_force(region_id=None, now=later.effective_from) == later


def test_a_rule_below_the_platform_floor_or_backdated_is_refused():
    finance = staff_create(FINANCE)
    with pytest.raises(ServiceError) as refusal:
        eligibility_rule_set(
            region=None,
            min_age=18,
            min_followers=1000,
            review_all=False,
            facts_max_age_days=30,
            reason="x",
            actor=finance,
            effective_from=NOW - datetime.timedelta(days=1),
            now=NOW,
        )
    assert refusal.value.field == "effective_from"
    with pytest.raises(ServiceError):
        eligibility_rule_set(
            region=None,
            min_age=16,
            min_followers=10,
            review_all=False,
            facts_max_age_days=30,
            reason="lower",
            actor=finance,
            now=NOW,
        )
    with pytest.raises(ServiceError) as refusal:
        rule(actor=staff_create(SUPPORT))
    assert refusal.value.status_code == 403


def test_an_older_report_never_overwrites_a_newer_one():
    user = user_create()
    report(user, followers=8000, ago=1)
    report(user, followers=10, ago=2)  # delivered late
    report(user, followers=20, ago=1)  # a repeat of the same moment
    facts = AccountFacts.objects.get(user=user)
    assert facts.follower_count == 8000
    report(user, followers=9000, ago=0)
    facts.refresh_from_db()
    assert facts.follower_count == 9000


@settings(max_examples=20, deadline=None)
@given(st.permutations([(0, 900), (1, 2000), (2, 3000), (3, 4000)]))
def test_facts_delivered_in_any_order_end_at_the_newest(order):
    user = user_create()
    creator = creator_create(user=user, follower_count=0)
    for ago_days, followers in order:
        report(user, followers=followers, ago=ago_days)
    creator.refresh_from_db()
    assert AccountFacts.objects.get(user=user).follower_count == 900
    assert creator.follower_count == 900


def test_a_platform_suspension_suspends_the_creator_but_a_lift_is_for_staff():
    creator = creator_create()
    report(creator.user, suspended=True, ago=1)
    creator.refresh_from_db()
    assert creator.suspended
    report(creator.user, suspended=False)
    creator.refresh_from_db()
    assert creator.suspended


def test_an_unknown_user_refuses_the_whole_batch():
    user = user_create()
    reports = [
        FactsReport(user.pk, 5000, ADULT, False, NOW),
        FactsReport(10**9, 5000, ADULT, False, NOW),
    ]
    with pytest.raises(ServiceError) as refusal:
        account_facts_report(reports=reports, now=NOW)
    assert refusal.value.field == "user_id"
    assert not AccountFacts.objects.exists()


def test_one_open_application_and_a_creator_cannot_apply():
    user = user_create()
    apply(user)  # no facts: waits
    with pytest.raises(ServiceError) as open_one:
        apply(user)
    assert (open_one.value.status_code, open_one.value.code) == (
        409,
        "application_open",
    )
    creator = creator_create()
    with pytest.raises(ServiceError) as already:
        apply(creator.user)
    assert (already.value.status_code, already.value.code) == (409, "already_creator")
    assert CreatorApplication.objects.count() == 1


def test_a_refused_user_waits_a_day_before_applying_again():
    user = user_create()
    report(user, followers=10, ago=1)
    assert apply(user).status == Status.REFUSED
    with pytest.raises(ServiceError) as refusal:
        apply(user)
    assert refusal.value.status_code == 429
    report(user, followers=5000)
    later = creator_application_submit(
        user=user, display_name="Mia", now=NOW + datetime.timedelta(days=1, seconds=1)
    )
    assert later.status == Status.APPROVED


def test_a_reviewer_approves_or_refuses_a_queued_application():
    reviewer = staff_create(SUPPORT)
    first, second = user_create(), user_create()
    report(first, ago=40)
    report(second, ago=40)
    approved = creator_application_approve(application=apply(first), actor=reviewer)
    refused = creator_application_refuse(
        application=apply(second), actor=reviewer, reason="Not a real account."
    )
    assert approved.status == Status.APPROVED
    assert approved.decided_by == reviewer
    assert CreatorProfile.objects.filter(user=first).exists()
    assert (refused.status, refused.decision_note) == (
        Status.REFUSED,
        "Not a real account.",
    )
    assert not CreatorProfile.objects.filter(user=second).exists()
    assert [entry.history_change_reason for entry in refused.history.all()] == [
        "Refused by a reviewer",
        "Queued",
    ]
    with pytest.raises(ServiceError) as twice:
        creator_application_refuse(application=approved, actor=reviewer, reason="no")
    assert twice.value.status_code == 409


def test_nobody_decides_their_own_application_nor_without_the_permission():
    reviewer = staff_create(SUPPORT)
    report(reviewer, ago=40)
    own = apply(reviewer)
    with pytest.raises(ServiceError) as refusal:
        creator_application_approve(application=own, actor=reviewer)
    assert refusal.value.code == "own"
    with pytest.raises(ServiceError) as refusal:
        creator_application_approve(application=own, actor=staff_create(FINANCE))
    assert refusal.value.status_code == 403
    own.refresh_from_db()
    assert own.status == Status.PENDING
    assert not CreatorProfile.objects.exists()


def test_a_reviewer_cannot_approve_a_minor():
    user = user_create()
    report(user, born=NOW.date().replace(year=NOW.year - 16), ago=40)
    application = apply(user)
    assert application.status == Status.PENDING  # stale facts: a person looks
    with pytest.raises(ServiceError):
        creator_application_approve(
            application=application, actor=staff_create(SUPPORT)
        )
    assert not CreatorProfile.objects.exists()


def test_a_reviewer_cannot_approve_whom_the_platform_reports_suspended():
    user = user_create()
    report(user, born=None, suspended=True)
    application = apply(user)
    assert application.status == Status.PENDING  # no birth date: a person looks
    with pytest.raises(ServiceError) as refusal:
        creator_application_approve(
            application=application, actor=staff_create(SUPPORT)
        )
    assert refusal.value.code == "suspended"
    assert "suspended on the platform" in refusal.value.message
    application.refresh_from_db()
    assert application.status == Status.PENDING
    assert not CreatorProfile.objects.exists()


def test_a_reviewer_cannot_approve_below_the_regions_own_age():
    region = region_create(code="KR")
    rule(region=region, min_age=21)
    user = user_create()
    born = NOW.date().replace(year=NOW.year - 19)
    report(user, born=born, region=region, ago=40)
    application = apply(user)
    assert application.status == Status.PENDING  # stale facts: a person looks
    with pytest.raises(ServiceError) as refusal:
        creator_application_approve(
            application=application, actor=staff_create(SUPPORT)
        )
    assert refusal.value.code == "too_young"
    assert not CreatorProfile.objects.exists()


def test_the_name_viewers_see_is_never_the_login():
    user = user_create(username="mia.login")
    report(user)
    with pytest.raises(ServiceError) as refusal:
        apply(user, name=" MIA.Login ")
    assert refusal.value.field == "display_name"
    assert not CreatorApplication.objects.exists()


def test_a_refusal_needs_a_reason():
    user = user_create()
    application = apply(user)
    with pytest.raises(ServiceError) as refusal:
        creator_application_refuse(
            application=application, actor=staff_create(SUPPORT), reason="  "
        )
    assert refusal.value.field == "reason"
