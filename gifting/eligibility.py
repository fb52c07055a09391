"""Who may become a creator: the rule in force for a region, and one function per
check of it. `services.applications` decides with these (docs/creators.md).

Gift sends keep their own check (`CreatorProfile.ineligibility_reason`, the
platform's floor of 18+ and `MIN_FOLLOWERS_TO_RECEIVE`): a rule here may only be
stricter, so a creator these let in passes it the day they join.
"""

import datetime
from dataclasses import asdict, dataclass

from .models import (
    MIN_FOLLOWERS_TO_RECEIVE,
    AccountFacts,
    CreatorApplication,
    EligibilityRule,
)

DEFAULT_FACTS_MAX_AGE_DAYS = 30


def default_rule() -> EligibilityRule:
    """The rule while staff have set none (never saved)."""
    return EligibilityRule(
        min_age=18,
        min_followers=MIN_FOLLOWERS_TO_RECEIVE,
        review_all=False,
        facts_max_age_days=DEFAULT_FACTS_MAX_AGE_DAYS,
    )


def rule_in_force(*, region_id: int | None, now: datetime.datetime) -> EligibilityRule:
    """The region's latest started rule; with none, the global one; else the default."""
    started = EligibilityRule.objects.filter(effective_from__lte=now).order_by(
        "-effective_from", "-id"
    )
    if region_id is not None:
        own = started.filter(region_id=region_id).first()
        if own is not None:
            return own
    return started.filter(region__isnull=True).first() or default_rule()


@dataclass(frozen=True)
class Reason:
    """Why an application is refused: a code for the client, words for the person."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def age_refusal(facts: AccountFacts, rule: EligibilityRule, day) -> Reason | None:
    if facts.birth_date is None or age_on(facts.birth_date, day) >= rule.min_age:
        return None
    return Reason("too_young", f"Creators must be {rule.min_age} or older.")


def followers_refusal(facts: AccountFacts, rule: EligibilityRule) -> Reason | None:
    if facts.follower_count >= rule.min_followers:
        return None
    return Reason(
        "too_few_followers",
        f"Creators need at least {rule.min_followers:,} followers; the platform "
        f"reports {facts.follower_count:,}.",
    )


def suspension_refusal(facts: AccountFacts) -> Reason | None:
    if not facts.suspended:
        return None
    return Reason("suspended", "The account is suspended on the platform.")


def facts_review_reason(
    facts: AccountFacts | None, rule: EligibilityRule, now: datetime.datetime
) -> str | None:
    """Why the facts cannot decide alone: missing or older than the rule allows."""
    if facts is None:
        return "The platform has reported no facts for this account."
    if facts.birth_date is None:
        return "The platform has not reported a birth date."
    age_days = (now - facts.as_of).days
    if age_days > rule.facts_max_age_days:
        return (
            f"The platform's facts are {age_days} days old (at most "
            f"{rule.facts_max_age_days})."
        )
    return None


@dataclass(frozen=True)
class Verdict:
    status: str  # a CreatorApplication.Status
    reasons: list[Reason]
    review_reason: str


def application_verdict(
    *, facts: AccountFacts | None, rule: EligibilityRule, now: datetime.datetime
) -> Verdict:
    """Approve, refuse (with every reason) or review. Missing or stale facts go to
    review rather than refuse: they may have changed since."""
    status = CreatorApplication.Status
    reasons = []
    if facts is not None:
        reasons = [
            reason
            for reason in (
                age_refusal(facts, rule, now.date()),
                followers_refusal(facts, rule),
                suspension_refusal(facts),
            )
            if reason is not None
        ]
    if review := facts_review_reason(facts, rule, now):
        return Verdict(status.PENDING, reasons, review)
    if reasons:
        return Verdict(status.REFUSED, reasons, "")
    if rule.review_all:
        return Verdict(
            status.PENDING, [], "The rule sends every application to review."
        )
    return Verdict(status.APPROVED, [], "")
