import datetime
import itertools
import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from wallets import ledger, services
from wallets.models import AccountKind, Purchase, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import paid_coin_liability, wallet_balances
from wallets.stores import sandbox_signature

from .factories import on_sale, purchase_buy, region_create, staff_create, user_create

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def purchase(user, bundle, region, when=None, txn=None):
    n = Purchase.objects.count()
    return purchase_buy(
        user, bundle, region, key=f"k{n}", when=when, txn=txn or f"t{user.id}-{n}"
    ).purchase


# Far above the ids of real gift sends a test makes beside these: their legs' keys
# (`gift:<id>:...`) must not meet.
_gift_ids = itertools.count(1_000_001)


def spend(user, amount):
    """Gift `amount` coins from `user` to a new creator, at a 50 % share."""
    with transaction.atomic():
        return ledger.gift_post(
            gift_send_id=next(_gift_ids),
            sender_id=user.id,
            creator_diamonds=ledger.user_account(user_create(), AccountKind.DIAMONDS),
            coins=amount,
            creator_units=amount * 5_000,
            platform_units=amount * 5_000,
        )


def refund(p, when=None, reason="Customer asked"):
    return services.purchase_refund(
        purchase=p, actor=None, reason=reason, source="finance", now=when
    )


def test_spending_takes_bonus_coins_first_then_the_oldest_purchase():
    user = user_create()
    bundle, region = on_sale(coins=100, bonus_coins=10)
    older = purchase(user, bundle, region, when=timezone.now() - 2 * DAY)
    newer = purchase(user, bundle, region)

    spent = spend(user, 30)

    assert (spent.bonus, spent.paid) == (20, 10)
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.paid_coins_remaining, newer.paid_coins_remaining) == (90, 100)
    assert ledger_reconcile().is_clean


def test_a_spend_past_the_balance_is_refused_and_moves_nothing():
    user = user_create()
    bundle, region = on_sale(coins=100)
    purchase(user, bundle, region)

    with pytest.raises(ledger.InsufficientBalance, match="100 available, 101 needed"):
        spend(user, 101)

    assert wallet_balances(user=user).paid_coins == 100
    assert Purchase.objects.get().paid_coins_remaining == 100


def test_an_unused_purchase_is_refunded_with_its_bonus():
    user = user_create()
    bundle, region = on_sale(coins=100, bonus_coins=10)
    p = purchase(user, bundle, region)

    result = refund(p)

    assert result.refunded and result.bonus_taken_back == 10
    p.refresh_from_db()
    assert (p.status, p.refund_reason, p.paid_coins_remaining) == (
        "refunded",
        "Customer asked",
        0,
    )
    assert wallet_balances(user=user).coins == 0
    assert ledger_reconcile().is_clean


def test_spent_bonus_coins_make_a_purchase_used_so_buy_gift_refund_earns_nothing():
    user = user_create()
    bundle, region = on_sale(coins=100, bonus_coins=10)
    p = purchase(user, bundle, region)
    spend(user, 7)

    with pytest.raises(services.RefundRefused, match="10 bonus coins were spent"):
        refund(p)

    p.refresh_from_db()
    assert p.status == "completed"
    assert wallet_balances(user=user).coins == 103
    assert ledger_reconcile().is_clean


def test_refund_window_edges():
    user = user_create()
    bundle, region = on_sale()
    start = timezone.now() - 20 * DAY
    inside = purchase(user, bundle, region, when=start)
    edge = purchase(user, bundle, region, when=start)

    assert refund(
        inside, when=start + 14 * DAY - datetime.timedelta(seconds=1)
    ).refunded
    with pytest.raises(services.RefundRefused, match="14-day refund window"):
        refund(edge, when=start + 14 * DAY)
    edge.refresh_from_db()
    assert edge.status == "completed"


def test_a_partly_used_purchase_is_not_refunded():
    user = user_create()
    bundle, region = on_sale(coins=100)
    p = purchase(user, bundle, region)
    spend(user, 1)

    with pytest.raises(services.RefundRefused, match="1 of its 100 paid coins"):
        refund(p)
    assert wallet_balances(user=user).paid_coins == 99


def test_unused_means_its_own_coins_untouched_even_when_older_ones_were_spent():
    user = user_create()
    bundle, region = on_sale(coins=100)
    older = purchase(user, bundle, region, when=timezone.now() - DAY)
    newer = purchase(user, bundle, region)
    spend(user, 100)

    assert refund(newer).refunded
    with pytest.raises(services.RefundRefused):
        refund(older)


def test_a_second_refund_does_nothing():
    user = user_create()
    bundle, region = on_sale()
    p = purchase(user, bundle, region)
    refund(p)
    transfers = Transfer.objects.count()

    again = refund(p)

    assert not again.refunded
    assert Transfer.objects.count() == transfers


def test_a_refund_needs_a_reason():
    user = user_create()
    bundle, region = on_sale()
    p = purchase(user, bundle, region)
    with pytest.raises(services.RefundRefused) as refusal:
        refund(p, reason="  ")
    assert refusal.value.field == "reason"
    assert wallet_balances(user=user).paid_coins == 100


@pytest.mark.parametrize("role", [SUPPORT, "viewer"])
def test_only_finance_grants_a_refund_whatever_calls_the_service(role):
    user = user_create()
    bundle, region = on_sale()
    p = purchase(user, bundle, region)
    actor = user if role == "viewer" else staff_create(role)
    with pytest.raises(services.RefundRefused) as refusal:
        services.purchase_refund(
            purchase=p, actor=actor, reason="Asked", source="finance"
        )
    assert refusal.value.status_code == 403
    p.refresh_from_db()
    assert p.status == Purchase.Status.COMPLETED
    assert wallet_balances(user=user).paid_coins == 100

    refunded = services.purchase_refund(
        purchase=p, actor=staff_create(FINANCE), reason="Asked", source="finance"
    )
    assert refunded.refunded


def notify(client, store, payload, signature=None):
    body = json.dumps(payload).encode()
    return client.post(
        f"/api/v1/stores/{store}/notifications/",
        data=body,
        content_type="application/json",
        HTTP_X_STORE_SIGNATURE=signature
        if signature is not None
        else sandbox_signature(body, store=store),
    )


def test_a_signed_store_refund_notification_takes_the_coins_back_once(client):
    user = user_create()
    bundle, region = on_sale()
    purchase(user, bundle, region, txn="store-1")

    first = notify(client, "apple", {"type": "refund", "transaction_id": "store-1"})
    second = notify(client, "apple", {"type": "refund", "transaction_id": "store-1"})

    assert first.json() == {"status": "refunded"}
    assert second.json() == {"status": "already_refunded"}
    assert Purchase.objects.get().refund_source == "store"
    assert wallet_balances(user=user).coins == 0


def test_a_notification_with_a_bad_signature_changes_nothing(client):
    user = user_create()
    bundle, region = on_sale()
    purchase(user, bundle, region, txn="store-1")

    response = notify(
        client,
        "apple",
        {"type": "refund", "transaction_id": "store-1"},
        signature="0" * 64,
    )

    assert response.status_code == 403
    assert Purchase.objects.get().status == "completed"
    assert wallet_balances(user=user).coins == 100


def test_a_notification_for_an_unknown_transaction_is_ignored(client):
    response = notify(client, "google", {"type": "refund", "transaction_id": "nope"})
    assert response.json() == {"status": "ignored"}


def test_paid_coin_liability_per_currency_counts_unspent_paid_coins_only():
    user = user_create()
    bundle, us = on_sale(coins=100, amount="0.99", bonus_coins=50)
    jp = region_create("JP", currency="JPY")
    from .factories import price_create

    price_create(bundle, jp, "160")
    purchase(user, bundle, us)
    purchase(user, bundle, us)
    services.home_region_set(user=user, region=jp, actor=None, reason="Moved to JP.")
    purchase(user, bundle, jp)
    spend(user, 50 + 150)  # bonus first (150), then 50 paid from the oldest

    assert paid_coin_liability() == {"JPY": Decimal("160.00"), "USD": Decimal("1.49")}
