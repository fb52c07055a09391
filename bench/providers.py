"""A what-if for the Celery step (BENCH_PAYOUT_PROVIDER): the sandbox payout
provider recording a whole batch in one transaction, as a batch payout API accepts
a batch, instead of one transaction (one WAL flush) per item. Same outcomes, same
pay-a-reference-once rule; it measures how much of a payout's cost is the
sandbox's own bookkeeping. Not used unless asked for.
"""

from django.db import transaction
from django.db.models import F

from payouts.models import SandboxPayoutRecord
from payouts.providers import (
    PayoutItem,
    PayoutResult,
    ProviderTimeout,
    SandboxPayoutProvider,
)


class BatchSandboxPayoutProvider(SandboxPayoutProvider):
    def send_batch(self, items: list[PayoutItem]) -> list[PayoutResult]:
        if any("+timeout" in item.destination for item in items):
            raise ProviderTimeout("The sandbox provider did not answer.")
        references = [item.reference for item in items]
        with transaction.atomic():
            known = {
                record.reference
                for record in SandboxPayoutRecord.objects.select_for_update().filter(
                    reference__in=references
                )
            }
            SandboxPayoutRecord.objects.bulk_create(
                SandboxPayoutRecord(
                    reference=item.reference,
                    outcome="failed" if "+fail" in item.destination else "paid",
                    amount=item.amount,
                    currency=item.currency,
                    times_paid=0 if "+fail" in item.destination else 1,
                )
                for item in items
                if item.reference not in known
            )
            SandboxPayoutRecord.objects.filter(reference__in=references).update(
                times_received=F("times_received") + 1
            )
            records = {
                record.reference: record
                for record in SandboxPayoutRecord.objects.filter(
                    reference__in=references
                )
            }
        return [
            PayoutResult(
                reference=item.reference,
                paid=records[item.reference].outcome == "paid",
                provider_id=f"SBX-{records[item.reference].id}",
                reason=""
                if records[item.reference].outcome == "paid"
                else "Receiver account refused.",
            )
            for item in items
        ]
