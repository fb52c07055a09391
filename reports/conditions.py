"""What is wrong right now, for the alerts: each function reads one condition and
returns the incidents it holds, by key. `services.alerts_check` opens and closes
incidents from them; no rule about notifying lives here.

Summaries go out by e-mail and webhook: they name references and counts, never a
destination, a name or an e-mail.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings

from payouts.selectors import (
    payouts_failed_by_batch,
    payouts_stuck,
    provider_timeouts_count,
)

from .models import Incident
from .selectors import reconciliation_latest

Kind = Incident.Kind
# Past this many references a summary says how many more.
NAMED = 10


@dataclass(frozen=True)
class Holding:
    """An incident the condition holds now: its kind, key and what to say."""

    kind: str
    key: str
    summary: str
    details: str = ""


def _references(references: list[str]) -> str:
    named = ", ".join(references[:NAMED])
    more = len(references) - NAMED
    return f"{named} and {more} more" if more > 0 else named


def reconciliation_mismatch(now: datetime.datetime) -> list[Holding]:
    """Holds while the latest reconciliation run found problems."""
    run = reconciliation_latest()
    if run is None or run.is_clean:
        return []
    count = len(run.problems)
    return [
        Holding(
            Kind.RECONCILIATION,
            "ledger",
            f"Reconciliation run #{run.pk} of {run.started_at:%Y-%m-%d %H:%M} UTC "
            f"found {count} problem{'s' if count != 1 else ''}.",
            "\n".join(str(problem) for problem in run.problems),
        )
    ]


def payouts_stuck_in_processing(now: datetime.datetime) -> list[Holding]:
    """Holds while a payout stays in processing past PAYOUT_STUCK_MINUTES."""
    minutes = settings.PAYOUT_STUCK_MINUTES
    stuck = payouts_stuck(since=now - datetime.timedelta(minutes=minutes))
    if not stuck:
        return []
    references = [payout.reference for payout in stuck]
    return [
        Holding(
            Kind.PAYOUTS_STUCK,
            "processing",
            f"{len(stuck)} payout{'s' if len(stuck) != 1 else ''} in processing for "
            f"more than {minutes} minutes: {_references(references)}.",
            "\n".join(references),
        )
    ]


def payout_batches_failed(now: datetime.datetime) -> list[Holding]:
    """Holds per provider answer that refused payouts, while any of them is still
    failed (finance has neither retried nor returned it)."""
    return [
        Holding(
            Kind.PAYOUTS_FAILED,
            failed_at.isoformat(timespec="microseconds"),
            f"{len(references)} payout{'s' if len(references) != 1 else ''} refused "
            f"by the provider at {failed_at:%Y-%m-%d %H:%M:%S} UTC: "
            f"{_references(references)}.",
            "\n".join(references),
        )
        for failed_at, references in payouts_failed_by_batch().items()
    ]


def provider_timeout_storm(now: datetime.datetime) -> list[Holding]:
    """Holds while the provider timed out more than PROVIDER_TIMEOUT_STORM_COUNT
    times in the last PROVIDER_TIMEOUT_STORM_MINUTES."""
    limit = settings.PROVIDER_TIMEOUT_STORM_COUNT
    minutes = settings.PROVIDER_TIMEOUT_STORM_MINUTES
    count = provider_timeouts_count(since=now - datetime.timedelta(minutes=minutes))
    if count <= limit:
        return []
    return [
        Holding(
            Kind.PROVIDER_TIMEOUTS,
            "provider",
            f"The payout provider timed out {count} times in {minutes} minutes "
            f"(alert above {limit}).",
        )
    ]


CONDITIONS = {
    Kind.RECONCILIATION: reconciliation_mismatch,
    Kind.PAYOUTS_STUCK: payouts_stuck_in_processing,
    Kind.PAYOUTS_FAILED: payout_batches_failed,
    Kind.PROVIDER_TIMEOUTS: provider_timeout_storm,
}
