"""The earnings hold under random gifts, times, payouts and refunds, on SQLite and
PostgreSQL: a payout never takes a held diamond, a store refund recovers exactly
the spent coins whose gifts were still held, and the ledger stays whole."""

import contextlib
import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.tests.factories import gift_create
from gifting import services
from gifting.models import HoldRecovery
from gifting.tests.factories import rich_creator
from payouts import services as payout_services
from payouts.models import Payout
from wallets import services as wallet_services
from wallets.models import LedgerAccount, Transfer, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import on_sale, purchase_buy, user_create

pytestmark = pytest.mark.django_db
HOUR = datetime.timedelta(hours=1)
FREE = 30_000  # whole diamonds each creator holds from long ago: over the minimum
UNITS_PER_COIN = 5_000  # level 1's 50 %
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextlib.contextmanager
def _example():
    """One example's database work, rolled back after it."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


gifts = st.lists(
    st.tuples(
        st.integers(0, 1),  # which creator
        st.integers(1, 60),  # coins
        st.integers(0, 14 * 24),  # hours before now
    ),
    min_size=1,
    max_size=6,
)


@EXAMPLES
@given(
    hold_days=st.integers(0, 10),
    sends=gifts,
    asks=st.lists(st.one_of(st.none(), st.integers(1, 40_000)), max_size=2),
)
def test_no_payout_takes_a_held_diamond_and_a_refund_recovers_the_held_rest(
    settings, hold_days, sends, asks
):
    settings.EARNINGS_HOLD_DAYS = hold_days
    now = timezone.now()
    with _example():
        creators = [rich_creator(diamonds=FREE), rich_creator(diamonds=FREE)]
        buyer = user_create()
        coins = sum(c for _, c, _ in sends)
        bundle, region = on_sale(coins=coins + 7, amount="9.99")
        oldest = max(hours for _, _, hours in sends)
        bought = purchase_buy(
            buyer, bundle, region, key="b", when=now - (oldest + 1) * HOUR, txn="t"
        ).purchase
        held_coins = [0, 0]
        for n, (who, amount, hours) in sorted(
            enumerate(sends), key=lambda item: -item[1][2]
        ):
            at = now - hours * HOUR
            services.gift_send(
                sender=buyer,
                creator=creators[who],
                gift=gift_create(coin_price=amount),
                quantity=1,
                placement="live",
                stream_id="s",
                region=None,
                idempotency_key=f"g-{n}",
                now=at,
            )
            if at + datetime.timedelta(days=hold_days) > now:
                held_coins[who] += amount

        # Payout attempts of one creator: any that goes through takes free
        # diamonds only, and the held ones are still in the account after.
        for n, ask in enumerate(asks):
            try:
                payout_services.payout_request(
                    creator=creators[0],
                    diamond_units=None if ask is None else ask * 10_000,
                    idempotency_key=f"p-{n}",
                    now=now,
                )
            except payout_services.PayoutRefused:
                pass
            # One open at a time: reject it so the next one may be asked.
            Payout.objects.filter(creator=creators[0]).update(
                status=Payout.Status.REJECTED
            )
        paid_out = max(
            Payout.objects.values_list("diamond_units", flat=True), default=0
        )
        earned = [
            sum(c for who, c, _ in sends if who == n) * UNITS_PER_COIN for n in (0, 1)
        ]
        assert paid_out <= FREE * 10_000 + earned[0] - held_coins[0] * UNITS_PER_COIN
        balance = wallet_balances(user=creators[0].user).diamond_units
        assert balance >= held_coins[0] * UNITS_PER_COIN

        wallet_services.store_refund_notification_handle(
            store="apple", transaction_id="t", now=now
        )

        record = UnrecoveredStoreRefund.objects.get(purchase=bought)
        assert record.paid_coins_spent == coins
        assert record.paid_coins_recovered == sum(held_coins)
        assert record.paid_coins_recovered + record.paid_coins_not_recovered == coins
        assert record.diamond_units_recovered == sum(held_coins) * UNITS_PER_COIN
        recoveries = HoldRecovery.objects.filter(purchase=bought)
        assert sum(r.paid_coins for r in recoveries) == record.paid_coins_recovered
        taken = Transfer.objects.filter(kind=Transfer.Kind.HOLD_TAKE_BACK)
        assert sum(t.amount for t in taken) == record.diamond_units_recovered
        for n, creator in enumerate(creators):
            after = wallet_balances(user=creator.user).diamond_units
            assert after >= 0
            if n:
                assert after == FREE * 10_000 + earned[1] - held_coins[1] * 5_000
        assert not LedgerAccount.objects.filter(
            owner__isnull=False, balance__lt=0
        ).exists()
        assert ledger_reconcile().is_clean
