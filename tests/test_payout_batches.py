"""Payout batches are claimed and recorded a batch at a time (the Celery rate in
bench/README.md); two workers given overlapping batches still pay each payout once."""

import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import FINANCE
from gifting.tests.factories import rich_creator
from payouts import services
from payouts.models import Payout, PayoutEvent, SandboxPayoutRecord
from payouts.providers import SandboxPayoutProvider
from payouts.services import decisions
from wallets.models import DIAMOND_SCALE, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import staff_create


def _approved(count: int) -> list[int]:
    finance = staff_create(FINANCE)
    ids = []
    for n in range(count):
        payout = services.payout_request(
            creator=rich_creator(paypal_email=f"c{n}@example.com"),
            diamond_units=20_000 * DIAMOND_SCALE,
            idempotency_key=f"k{n}",
        ).payout
        services.payout_approve(payout=payout, actor=finance)
        ids.append(payout.id)
    return ids


@pytest.mark.django_db
def test_a_batch_pays_each_payout_once_with_its_events_and_transfer():
    ids = _approved(3)

    assert services.payouts_send(payout_ids=ids) == 3
    assert services.payouts_send(payout_ids=ids) == 0

    for payout in Payout.objects.filter(id__in=ids):
        assert payout.status == "paid"
        assert payout.provider_id.startswith("SBX-")
        steps = list(
            PayoutEvent.objects.filter(payout=payout).values_list(
                "from_status", "to_status"
            )
        )
        assert steps[-2:] == [("approved", "processing"), ("processing", "paid")]
        assert (
            Transfer.objects.filter(
                kind="payout", reference=f"payout:{payout.id}"
            ).count()
            == 1
        )
    assert set(SandboxPayoutRecord.objects.values_list("times_paid", flat=True)) == {1}


@pytest.mark.django_db
def test_a_refused_item_fails_alone_and_the_rest_of_the_batch_is_paid():
    ids = _approved(2)
    refused = Payout.objects.get(id=ids[0])
    Payout.objects.filter(id=refused.id).update(destination="x+fail@example.com")

    assert services.payouts_send(payout_ids=ids) == 2

    refused.refresh_from_db()
    assert refused.status == "failed"
    assert refused.failure_reason == "Receiver account refused."
    assert Payout.objects.get(id=ids[1]).status == "paid"
    assert not Transfer.objects.filter(reference=f"payout:{refused.id}", kind="payout")


@pytest.mark.django_db
def test_a_batch_is_sent_and_recorded_with_the_same_queries_for_any_size():
    ids = _approved(8)
    Payout.objects.filter(id=ids[0]).update(destination="x+fail@example.com")
    counts = []
    for batch in (ids[:2], ids[2:]):
        with CaptureQueriesContext(connection) as queries:
            assert services.payouts_send(payout_ids=batch) == len(batch)
        counts.append(len(queries))

    # Claim, provider, results: a fixed set of statements, not some per payout.
    assert counts[0] == counts[1]
    transfers = Transfer.objects.filter(kind="payout")
    assert sorted(transfers.values_list("reference", flat=True)) == sorted(
        f"payout:{pk}" for pk in ids[1:]
    )
    assert ledger_reconcile().is_clean


def _at_once(call, batches):
    """Run `call` on each batch in its own thread, started together."""
    errors, answers = [], []
    start = threading.Barrier(len(batches))

    def work(batch):
        try:
            start.wait()
            answers.append(call(batch))
        except Exception as error:  # noqa: BLE001 - reported by the caller's assert
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors, answers


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="row locks between two senders need PostgreSQL",
)
def test_two_overlapping_sends_to_the_sandbox_pay_each_reference_once():
    # Both record new references at once: one INSERT waits for the other's and
    # fails, and its second pass finds them recorded, as resends.
    from payouts.tests.test_sandbox_provider import _items

    for round_ in range(5):
        items = _items(40, f"T{round_}")
        batches = [items[:30], list(reversed(items[10:]))]
        errors, answers = _at_once(
            lambda batch: SandboxPayoutProvider().send_batch(batch), batches
        )

        assert errors == []
        records = SandboxPayoutRecord.objects.filter(reference__startswith=f"T{round_}")
        assert records.count() == 40
        assert set(records.values_list("times_paid", flat=True)) == {1}
        assert sum(records.values_list("times_received", flat=True)) == 60
        # Both senders were given the one provider id of each overlapping reference.
        first, second = ({r.reference: r.provider_id for r in a} for a in answers)
        assert all(first[ref] == second[ref] for ref in first.keys() & second.keys())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="row locks between two workers need PostgreSQL",
)
def test_two_workers_sending_overlapping_batches_pay_each_payout_once(monkeypatch):
    # Here approvals commit, and eager Celery would pay them at once: the workers
    # below are the ones to send them.
    monkeypatch.setattr(decisions, "_dispatch_after_commit", lambda: None)
    ids = _approved(12)
    # Each half overlaps the other's, in opposite orders: a lock order that
    # followed the batch would deadlock here.
    batches = [ids[:8], list(reversed(ids[4:]))]

    errors, moved = _at_once(
        lambda batch: services.payouts_send(payout_ids=batch), batches
    )

    assert errors == []
    assert sum(moved) == 12
    assert set(Payout.objects.filter(id__in=ids).values_list("status", flat=True)) == {
        "paid"
    }
    assert Transfer.objects.filter(kind="payout").count() == 12
    assert SandboxPayoutRecord.objects.filter(times_paid=1).count() == 12
    assert ledger_reconcile().is_clean
