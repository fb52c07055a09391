"""Creators join: the platform reports account facts, a user applies, the rule in
force decides at once or a reviewer does (docs/creators.md)."""

import datetime
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ServiceToken, User
from catalog.models import Region
from core.errors import ServiceError

from ..eligibility import application_verdict, rule_in_force
from ..models import (
    AccountFacts,
    CreatorApplication,
    CreatorProfile,
    EligibilityRule,
)
from .levels import creators_set_suspended, level_for
from .rules import region_rule_errors

logger = logging.getLogger(__name__)

DECIDE_PERMISSION = "gifting.decide_creatorapplication"
RULE_PERMISSION = "gifting.add_eligibilityrule"
# After a refusal, a new application waits this long: the facts rarely change
# faster, and it keeps a refused user from filling the queue.
REAPPLY_AFTER = datetime.timedelta(days=1)
FACTS_BATCH_MAX = 500


@dataclass(frozen=True)
class FactsReport:
    """One user's facts as the platform read them at `as_of`."""

    user_id: int
    follower_count: int
    birth_date: datetime.date | None
    suspended: bool
    as_of: datetime.datetime
    region: Region | None = None


def _facts_apply(report: FactsReport, *, token: ServiceToken | None, now) -> bool:
    fields = {
        "follower_count": report.follower_count,
        "birth_date": report.birth_date,
        "suspended": report.suspended,
        "region": report.region,
        "as_of": report.as_of,
        "reported_at": now,
        "reported_by": token,
    }
    facts = AccountFacts.objects.select_for_update().filter(user_id=report.user_id)
    current = facts.first()
    if current is None:
        try:
            with transaction.atomic():
                AccountFacts.objects.create(user_id=report.user_id, **fields)
        except IntegrityError:  # another report created it first: compare with it
            current = facts.get()
    if current is not None:
        if report.as_of <= current.as_of:
            return False  # out of order or repeated: the newer facts stay
        for name, value in fields.items():
            setattr(current, name, value)
        current.save()
    # Where the existing rules read them: age on the user, followers and a
    # suspension on the creator. Saved, not updated, so cached tokens forget.
    user = User.objects.get(pk=report.user_id)
    if report.birth_date is not None and user.birth_date != report.birth_date:
        user.birth_date = report.birth_date
        user.save(update_fields=["birth_date"])
    creator = CreatorProfile.objects.filter(user_id=report.user_id)
    creator.exclude(follower_count=report.follower_count).update(
        follower_count=report.follower_count
    )
    if report.suspended:
        # Lifting one stays with staff: a creator staff suspended stays so.
        creators_set_suspended(creators=creator, suspended=True, actor=None)
    return True


def account_facts_report(
    *,
    reports: list[FactsReport],
    token: ServiceToken | None = None,
    now: datetime.datetime | None = None,
) -> list[bool]:
    """Store each report unless newer facts are stored: per report, whether it was
    applied. All or nothing: an unknown user refuses the whole batch."""
    now = now or timezone.now()
    if len(reports) > FACTS_BATCH_MAX:
        raise ServiceError(
            f"At most {FACTS_BATCH_MAX} reports per request.", field="facts"
        )
    user_ids = [report.user_id for report in reports]
    if len(set(user_ids)) != len(user_ids):
        raise ServiceError("A user appears twice in one batch.", field="facts")
    known = set(User.objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    if unknown := [user_id for user_id in user_ids if user_id not in known]:
        raise ServiceError(f"No such user: {unknown[0]}.", field="user_id")
    applied: dict[int, bool] = {}
    with transaction.atomic():
        # In user order: two batches naming the same users never deadlock.
        for report in sorted(reports, key=lambda report: report.user_id):
            applied[report.user_id] = _facts_apply(report, token=token, now=now)
    return [applied[user_id] for user_id in user_ids]


def _refuse_if_creator(user_id: int) -> None:
    if CreatorProfile.objects.filter(user_id=user_id).exists():
        raise ServiceError(
            "This user is a creator already.", code="already_creator", status_code=409
        )


def _make_creator(application: CreatorApplication) -> CreatorProfile:
    facts = AccountFacts.objects.filter(user_id=application.user_id).first()
    return CreatorProfile.objects.create(
        user_id=application.user_id,
        display_name=application.display_name,
        follower_count=facts.follower_count if facts else 0,
        # Suspended on the platform, suspended here: as a later report would do.
        suspended=bool(facts and facts.suspended),
        # Where the daily recomputation would put a creator with no earnings.
        level=level_for(0),
    )


def creator_application_submit(
    *, user: User, display_name: str, now: datetime.datetime | None = None
) -> CreatorApplication:
    """The user applies; the rule in force for their region decides at once or
    sends the application to review."""
    now = now or timezone.now()
    display_name = display_name.strip()
    if not display_name:
        raise ServiceError("Give the name viewers will see.", field="display_name")
    # Viewers see it (leaderboards, gift lists): never the login, as public names.
    if display_name.casefold() == user.username.casefold():
        raise ServiceError(
            "Choose a name other than your login: viewers see it.",
            field="display_name",
        )
    with transaction.atomic():
        # One decision per user at a time: a second request waits here, then sees
        # the first application (or creator).
        User.objects.select_for_update().filter(pk=user.pk).first()
        _refuse_if_creator(user.pk)
        mine = CreatorApplication.objects.filter(user=user)
        if mine.filter(status=CreatorApplication.Status.PENDING).exists():
            raise ServiceError(
                "An application of yours is waiting for review.",
                code="application_open",
                status_code=409,
            )
        if mine.filter(
            status=CreatorApplication.Status.REFUSED, decided_at__gt=now - REAPPLY_AFTER
        ).exists():
            raise ServiceError(
                "Refused less than a day ago: apply again later.",
                code="too_soon",
                status_code=429,
            )
        facts = AccountFacts.objects.filter(user=user).first()
        rule = rule_in_force(region_id=facts.region_id if facts else None, now=now)
        verdict = application_verdict(facts=facts, rule=rule, now=now)
        decided = verdict.status != CreatorApplication.Status.PENDING
        application = CreatorApplication(
            user=user,
            display_name=display_name,
            status=verdict.status,
            follower_count=facts.follower_count if facts else None,
            birth_date=facts.birth_date if facts else None,
            platform_suspended=facts.suspended if facts else None,
            region=facts.region if facts else None,
            facts_as_of=facts.as_of if facts else None,
            rule=rule if rule.pk else None,
            rule_terms=rule.terms,
            reasons=[reason.as_dict() for reason in verdict.reasons],
            review_reason=verdict.review_reason,
            decided_at=now if decided else None,
            created_at=now,
        )
        if verdict.status == CreatorApplication.Status.APPROVED:
            application.creator = _make_creator(application)
        application._change_reason = "Decided by the rule" if decided else "Queued"
        application.save()
    logger.info(
        "Creator application %s by user %s: %s",
        application.pk,
        user.pk,
        application.status,
    )
    return application


def _decision_start(
    *, application: CreatorApplication, actor: User
) -> CreatorApplication:
    if not actor.has_perm(DECIDE_PERMISSION):
        raise ServiceError(
            "Only reviewers decide creator applications.", status_code=403
        )
    if actor.pk == application.user_id:
        raise ServiceError(
            "Nobody decides their own application.", code="own", status_code=403
        )
    application = CreatorApplication.objects.select_for_update().get(pk=application.pk)
    if application.status != CreatorApplication.Status.PENDING:
        raise ServiceError(
            "This application is decided already.", code="decided", status_code=409
        )
    return application


@transaction.atomic
def creator_application_approve(
    *,
    application: CreatorApplication,
    actor: User,
    note: str = "",
    now: datetime.datetime | None = None,
) -> CreatorApplication:
    """A reviewer lets the applicant in: one the rules queued for want of facts,
    or because every application is reviewed. Never one the platform's facts, as
    they are now, refuse under the rule in force (too young for the region, too
    few followers, suspended): a reviewer judges what the facts cannot say, and
    does not waive what they do."""
    now = now or timezone.now()
    application = _decision_start(application=application, actor=actor)
    _refuse_if_creator(application.user_id)
    facts = AccountFacts.objects.filter(user_id=application.user_id).first()
    rule = rule_in_force(region_id=facts.region_id if facts else None, now=now)
    verdict = application_verdict(facts=facts, rule=rule, now=now)
    if verdict.reasons:
        raise ServiceError(
            " ".join(reason.message for reason in verdict.reasons)
            + " Refuse it, or wait for the platform's newer facts.",
            code=verdict.reasons[0].code,
        )
    application.creator = _make_creator(application)
    application.status = CreatorApplication.Status.APPROVED
    application.decided_by, application.decided_at = actor, now
    application.decision_note = note.strip()
    application._change_reason = "Approved by a reviewer"
    application.save()
    return application


@transaction.atomic
def creator_application_refuse(
    *,
    application: CreatorApplication,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> CreatorApplication:
    """A reviewer refuses; `reason` is shown to the applicant."""
    if not reason.strip():
        raise ServiceError("Say why: the applicant reads it.", field="reason")
    application = _decision_start(application=application, actor=actor)
    application.status = CreatorApplication.Status.REFUSED
    application.decided_by = actor
    application.decided_at = now or timezone.now()
    application.decision_note = reason.strip()
    application._change_reason = "Refused by a reviewer"
    application.save()
    return application


def eligibility_rule_errors(
    *,
    region: Region | None,
    effective_from: datetime.datetime,
    reason: str,
    now: datetime.datetime,
) -> dict[str, str]:
    """What is wrong with a new rule's timing and reason, per field (the model's
    validators bound the numbers)."""
    return region_rule_errors(
        EligibilityRule,
        region=region,
        effective_from=effective_from,
        reason=reason,
        now=now,
        backdated="A rule takes effect now or later: applications already decided "
        "keep the rule they were decided by.",
        taken="A rule for this region starts at this moment.",
        no_reason="Say why the rule changes.",
    )


def eligibility_rule_set(
    *,
    region: Region | None,
    min_age: int,
    min_followers: int,
    review_all: bool,
    facts_max_age_days: int,
    reason: str,
    actor: User,
    effective_from: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
) -> EligibilityRule:
    """A new eligibility rule for `region` (None: every region without its own)."""
    if not actor.has_perm(RULE_PERMISSION):
        raise ServiceError("Only finance sets eligibility rules.", status_code=403)
    now = now or timezone.now()
    effective_from = effective_from or now
    errors = eligibility_rule_errors(
        region=region, effective_from=effective_from, reason=reason, now=now
    )
    if errors:
        field, message = next(iter(errors.items()))
        raise ServiceError(message, field=field, code="invalid_rule")
    try:
        with transaction.atomic():
            return EligibilityRule.objects.create(
                region=region,
                min_age=min_age,
                min_followers=min_followers,
                review_all=review_all,
                facts_max_age_days=facts_max_age_days,
                effective_from=effective_from,
                reason=reason.strip(),
                set_by=actor,
                set_at=now,
            )
    except IntegrityError:
        # A number out of the floor the database holds, or the same moment raced.
        raise ServiceError(
            "The rule is below the platform's floor or starts at a taken moment.",
            field="effective_from",
            code="invalid_rule",
        ) from None
