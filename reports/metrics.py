"""Figures read from the database when Prometheus scrapes the web (core/metrics.py):
payouts waiting in each open state and for how long, credits not yet folded, and
the last reconciliation. The counted figures (gift sends, purchases...) come from
each app's own `metrics.py`."""

import logging

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from payouts.models import Payout
from payouts.selectors import payouts_waiting
from wallets.selectors import pending_credits_outstanding

from .selectors import reconciliation_latest

logger = logging.getLogger(__name__)


class LedgerFigures:
    """One scrape's reading of the database: a handful of indexed queries."""

    def collect(self):
        up = GaugeMetricFamily(
            "giftshop_metrics_database_up",
            "1 when the scrape could read the database's figures, else 0.",
        )
        try:
            families = list(self._families(timezone.now()))
        except DatabaseError:
            logger.warning("metrics: the database's figures could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, now):
        waiting = GaugeMetricFamily(
            "giftshop_payouts_waiting",
            "Open payouts in each state.",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "giftshop_payouts_waiting_oldest_age_seconds",
            "Seconds since the oldest open payout in each state was requested "
            "(0 when none waits).",
            labels=["status"],
        )
        by_status = {row.status: row for row in payouts_waiting()}
        for status in Payout.OPEN:
            row = by_status.get(status)
            waiting.add_metric([status], row.count if row else 0)
            age = (now - row.oldest_requested_at).total_seconds() if row else 0
            oldest.add_metric([status], max(age, 0))
        yield waiting
        yield oldest

        pending = pending_credits_outstanding()
        yield GaugeMetricFamily(
            "giftshop_pending_credits",
            "Credits posted but not yet folded into their account's balance.",
            value=sum(count for count, _ in pending.values()),
        )
        yield GaugeMetricFamily(
            "giftshop_pending_credit_units",
            "Amount of the credits not yet folded, in their accounts' units.",
            value=sum(total for _, total in pending.values()),
        )

        run = reconciliation_latest()
        if run is None:
            return
        yield GaugeMetricFamily(
            "giftshop_reconciliation_last_finished_timestamp_seconds",
            "When the last reconciliation run finished (Unix time).",
            value=run.finished_at.timestamp(),
        )
        yield GaugeMetricFamily(
            "giftshop_reconciliation_age_seconds",
            "Seconds since the last reconciliation run finished.",
            value=max((now - run.finished_at).total_seconds(), 0),
        )
        yield GaugeMetricFamily(
            "giftshop_reconciliation_problems",
            "Problems the last reconciliation run found (0: the ledger is clean).",
            value=len(run.problems),
        )
