"""The review queue: reviewers decide applications the rules queued, never their
own; finance sets eligibility rules; the follower count is the platform's."""

import pytest
from django.contrib.messages import get_messages

from accounts.roles import FINANCE, SUPPORT
from gifting.models import CreatorApplication, CreatorProfile, EligibilityRule
from gifting.services.applications import creator_application_submit
from wallets.tests.factories import staff_create, user_create

from .factories import creator_create

pytestmark = pytest.mark.django_db
QUEUE = "/admin/gifting/creatorapplication/"
RULES = "/admin/gifting/eligibilityrule/"
Status = CreatorApplication.Status


def queued(user=None, name="Mia"):
    # No facts reported: the application waits for a person.
    return creator_application_submit(user=user or user_create(), display_name=name)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_queue_opens_on_waiting_applications_with_why(client):
    waiting = queued(name="Waiting Mia")
    decided = queued(name="Decided Bo")
    CreatorApplication.objects.filter(pk=decided.pk).update(
        status=Status.REFUSED, decided_at=decided.created_at
    )
    client.force_login(staff_create(SUPPORT))
    page = client.get(QUEUE).content.decode()
    assert "Waiting Mia" in page and "Decided Bo" not in page
    assert "The platform has reported no facts" in page
    one = client.get(f"{QUEUE}{waiting.pk}/change/").content.decode()
    assert "Platform facts when applying" in one and "18+, 1,000 followers" in one


def test_support_approves_and_the_applicant_is_a_creator(client):
    application = queued()
    reviewer = staff_create(SUPPORT)
    client.force_login(reviewer)
    response = client.post(
        QUEUE,
        {"action": "approve", "_selected_action": [application.pk]},
        follow=True,
    )
    assert "Approved 1 application(s)." in messages_of(response)
    application.refresh_from_db()
    assert (application.status, application.decided_by) == (Status.APPROVED, reviewer)
    assert CreatorProfile.objects.filter(user=application.user).exists()


def test_refusing_asks_for_the_reason_the_applicant_reads(client):
    application = queued()
    client.force_login(staff_create(SUPPORT))
    asked = client.post(
        QUEUE, {"action": "refuse", "_selected_action": [application.pk]}
    )
    blank = client.post(
        QUEUE,
        {
            "action": "refuse",
            "_selected_action": [application.pk],
            "apply": "1",
            "reason": "",
        },
    )
    done = client.post(
        QUEUE,
        {
            "action": "refuse",
            "_selected_action": [application.pk],
            "apply": "1",
            "reason": "The account looks bought.",
        },
        follow=True,
    )
    assert 'name="reason"' in asked.content.decode()
    assert "This field is required." in blank.content.decode()
    assert "Refused 1 application(s)." in messages_of(done)
    application.refresh_from_db()
    assert application.decision_note == "The account looks bought."


def test_a_reviewer_approves_on_the_applications_page(client):
    application = queued()
    reviewer = staff_create(SUPPORT)
    client.force_login(reviewer)
    page = f"{QUEUE}{application.pk}/change/"
    shown = client.get(page).content.decode()

    response = client.post(page, {"_approve": "Approve"}, follow=True)

    assert 'name="_approve"' in shown and 'name="_refuse"' in shown
    assert "Approved 1 application(s)." in messages_of(response)
    assert response.redirect_chain[-1][0] == page
    application.refresh_from_db()
    assert (application.status, application.decided_by) == (Status.APPROVED, reviewer)
    assert CreatorProfile.objects.filter(user=application.user).exists()
    # Decided: no buttons any more.
    assert 'name="_approve"' not in response.content.decode()


def test_a_reviewer_refuses_on_the_applications_page_with_a_reason(client):
    application = queued()
    client.force_login(staff_create(SUPPORT))
    page = f"{QUEUE}{application.pk}/change/"

    blank = client.post(page, {"_refuse": "Refuse", "reason": " "}, follow=True)
    application.refresh_from_db()
    assert application.status == Status.PENDING
    done = client.post(
        page, {"_refuse": "Refuse", "reason": "The account looks bought."}, follow=True
    )

    assert f"#{application.pk}: not refused. Reason: This field is required." in (
        messages_of(blank)
    )
    assert "Refused 1 application(s)." in messages_of(done)
    application.refresh_from_db()
    assert (application.status, application.decision_note) == (
        Status.REFUSED,
        "The account looks bought.",
    )


def test_the_applications_page_reports_a_refusal_of_the_service(client):
    reviewer = staff_create(SUPPORT)
    own = queued(user=reviewer)
    client.force_login(reviewer)
    response = client.post(
        f"{QUEUE}{own.pk}/change/", {"_approve": "Approve"}, follow=True
    )
    assert f"#{own.pk}: Nobody decides their own application." in messages_of(response)
    own.refresh_from_db()
    assert own.status == Status.PENDING


def test_finance_reads_an_application_without_deciding_it(client):
    application = queued()
    client.force_login(staff_create(FINANCE))
    page = f"{QUEUE}{application.pk}/change/"
    shown = client.get(page)
    posted = client.post(page, {"_approve": "Approve"})
    assert shown.status_code == 200 and 'name="_approve"' not in shown.content.decode()
    assert posted.status_code == 403
    application.refresh_from_db()
    assert application.status == Status.PENDING


def test_a_reviewer_cannot_decide_their_own_application(client):
    reviewer = staff_create(SUPPORT)
    own = queued(user=reviewer)
    client.force_login(reviewer)
    response = client.post(
        QUEUE, {"action": "approve", "_selected_action": [own.pk]}, follow=True
    )
    assert f"#{own.pk}: Nobody decides their own application." in messages_of(response)
    own.refresh_from_db()
    assert own.status == Status.PENDING
    assert not CreatorProfile.objects.exists()


def test_finance_reads_the_queue_but_cannot_decide(client):
    application = queued()
    client.force_login(staff_create(FINANCE))
    page = client.get(QUEUE).content.decode()
    client.post(QUEUE, {"action": "approve", "_selected_action": [application.pk]})
    assert "Approve selected" not in page
    application.refresh_from_db()
    assert application.status == Status.PENDING


def test_finance_adds_a_rule_and_a_backdated_one_is_refused_beside_its_field(
    client,
):
    client.force_login(staff_create(FINANCE))
    form = {
        "min_age": "21",
        "min_followers": "5000",
        "facts_max_age_days": "30",
        "reason": "Stricter market",
    }
    backdated = client.post(
        f"{RULES}add/",
        {**form, "effective_from_0": "2020-01-01", "effective_from_1": "00:00:00"},
    )
    too_low = client.post(f"{RULES}add/", {**form, "min_followers": "10"})
    added = client.post(f"{RULES}add/", form)
    assert "A rule takes effect now or later" in backdated.content.decode()
    assert "greater than or equal to 1000" in too_low.content.decode()
    assert added.status_code == 302
    rule = EligibilityRule.objects.get()
    assert (rule.min_age, rule.min_followers) == (21, 5000)


def test_the_follower_count_is_read_only_on_the_creators_page(client):
    creator = creator_create(follower_count=4321)
    client.force_login(staff_create(FINANCE))
    page = client.get(f"/admin/gifting/creatorprofile/{creator.pk}/change/")
    html = page.content.decode()
    assert 'name="follower_count"' not in html
    assert "4,321 (not reported yet)" in html
