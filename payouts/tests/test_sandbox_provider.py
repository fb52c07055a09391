"""The sandbox payout provider records a batch in one transaction of a few
statements, and keeps its rules: a reference is paid at most once, a resend
answers its first result, `+fail` is refused, `+timeout` fails the whole batch."""

import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payouts.models import SandboxPayoutRecord
from payouts.providers import (
    PayoutItem,
    ProviderTimeout,
    SandboxPayoutProvider,
    sandbox_callback_signature,
)


def _item(reference: str, destination: str = "c@example.com") -> PayoutItem:
    return PayoutItem(
        reference=reference,
        amount=Decimal("12.50"),
        currency="USD",
        method="paypal",
        destination=destination,
    )


def _items(count: int, prefix: str = "R") -> list[PayoutItem]:
    return [_item(f"{prefix}-{n:04d}") for n in range(count)]


@pytest.mark.django_db
def test_a_batch_is_paid_once_and_a_resend_answers_the_first_result():
    provider = SandboxPayoutProvider()
    items = [_item("A"), _item("B", "b+fail@example.com"), _item("C")]

    first = provider.send_batch(items)
    again = provider.send_batch(list(reversed(items)))

    assert [(r.reference, r.paid) for r in first] == [
        ("A", True),
        ("B", False),
        ("C", True),
    ]
    assert first[1].reason == "Receiver account refused."
    # In the order sent, each with the result (and provider id) of its first send.
    assert [r.reference for r in again] == ["C", "B", "A"]
    assert list(reversed(again)) == first
    records = {r.reference: r for r in SandboxPayoutRecord.objects.all()}
    assert {ref: (r.times_received, r.times_paid) for ref, r in records.items()} == {
        "A": (2, 1),
        "B": (2, 0),
        "C": (2, 1),
    }
    assert first[0].provider_id == f"SBX-{records['A'].id}"


@pytest.mark.django_db
def test_a_resend_mixed_with_new_references_pays_only_the_new_ones():
    provider = SandboxPayoutProvider()
    provider.send_batch([_item("A")])

    results = provider.send_batch([_item("A"), _item("D"), _item("D")])

    assert [r.paid for r in results] == [True, True, True]
    assert results[1] == results[2]
    counts = dict(
        SandboxPayoutRecord.objects.values_list("reference", "times_received")
    )
    assert counts == {"A": 2, "D": 2}
    assert SandboxPayoutRecord.objects.get(reference="D").times_paid == 1


@pytest.mark.django_db
def test_a_timeout_anywhere_in_the_batch_records_nothing():
    with pytest.raises(ProviderTimeout):
        SandboxPayoutProvider().send_batch(
            [_item("A"), _item("B", "b+timeout@example.com")]
        )

    assert not SandboxPayoutRecord.objects.exists()


@pytest.mark.django_db
def test_recording_a_batch_takes_the_same_queries_for_any_size():
    provider = SandboxPayoutProvider()
    provider.send_batch(_items(3, "OLD"))
    counts = []
    for size in (3, 30):
        # Half already known (resent), half new: every statement is used.
        batch = _items(size // 3, "OLD")[:3] + _items(size, f"N{size}")
        with CaptureQueriesContext(connection) as queries:
            provider.send_batch(batch)
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert counts[0] <= 6  # savepoint, SELECT, UPDATE, INSERT, release


def test_a_callback_signature_with_non_ascii_text_is_refused_not_an_error():
    body = b'{"reference": "A"}'
    provider = SandboxPayoutProvider()

    assert provider.verify_callback(body, sandbox_callback_signature(body))
    assert not provider.verify_callback(body, "é" * 64)
    assert not provider.verify_callback(body, "")
    assert not provider.verify_callback(body, "t=é,v1=é")


@pytest.mark.parametrize(
    ("seconds_ago", "accepted"),
    [(0, True), (299, True), (-299, True), (301, False), (-301, False), (86400, False)],
)
def test_a_callback_is_accepted_only_within_five_minutes_of_signing(
    seconds_ago, accepted
):
    body = b'{"reference": "A"}'
    at = int(time.time()) - seconds_ago
    assert (
        SandboxPayoutProvider().verify_callback(
            body, sandbox_callback_signature(body, at=at)
        )
        is accepted
    )


@pytest.mark.parametrize(
    "forge",
    [
        # Another time with the signature of the first: the time is signed too.
        lambda sig, at: sig.replace(f"t={at}", f"t={at + 1}"),
        lambda sig, at: sig.partition(",")[2],  # no time
        lambda sig, at: sig.partition(",")[0],  # no signature
        lambda sig, at: sig.replace(f"t={at}", "t=-1"),
        lambda sig, at: sig.replace(f"t={at}", "t=" + "9" * 13),
        lambda sig, at: sig.split("v1=")[1],  # the bare hex, as before
        lambda sig, at: sig + "0",
    ],
    ids=["time moved", "no time", "no signature", "negative", "huge", "bare", "longer"],
)
def test_a_forged_callback_signature_is_refused(forge):
    body = b'{"reference": "A"}'
    at = int(time.time())
    signature = sandbox_callback_signature(body, at=at)
    assert not SandboxPayoutProvider().verify_callback(body, forge(signature, at))
    assert not SandboxPayoutProvider().verify_callback(b"{}", signature)
