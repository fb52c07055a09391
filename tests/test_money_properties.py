"""Property-based tests of the money arithmetic, through the services and the
database, on SQLite and PostgreSQL alike: random amounts, rates, fees, shares and
quantities, where round numbers would hide rounding and floating-point errors.

Each Hypothesis example runs in its own savepoint, rolled back after it
(`_example`): pytest-django's `db` fixture opens one transaction per test, not per
example, so without it one example's rows would leak into the next.
"""

import contextlib
import datetime
from collections import defaultdict
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import pytest
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import FINANCE
from catalog import services as catalog_services
from catalog.models import BundlePrice, Gift
from core.errors import ServiceError
from gifting import services as gifting_services
from gifting.models import CreatorLevel, CreatorProfile, GiftSend
from gifting.tests.factories import creator_create, funded_sender
from payouts import services as payout_services
from payouts.models import DiamondCashRate, Payout, PayoutEvent, PayoutRules
from reports.selectors import money_dashboard
from wallets import services as wallet_services
from wallets.models import (
    DIAMOND_SCALE,
    BalanceAdjustment,
    LedgerAccount,
    Purchase,
    SpendingLimit,
)
from wallets.tests.factories import (
    bundle_create,
    leg_post,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")
# Bounded so the whole file runs in well under a minute on SQLite; the function-
# scoped fixtures (db, settings) are safe to share: `_example` resets the data.
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


def cents(low: int, high: int):
    """Amounts from `low` to `high` cents, as Decimals with two places."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


# --- Payouts: the quote, the split and the stored row ---------------------------


@EXAMPLES
@given(
    # From 2,000 to 4 million diamonds and any ten-thousandth; rates of 0.001 to
    # 0.02 with six decimals: mostly above the minimum, some below it.
    diamond_units=st.integers(2_000 * DIAMOND_SCALE, 4_000_000 * DIAMOND_SCALE),
    rate=st.integers(1_000, 20_000).map(lambda n: Decimal(n).scaleb(-6)),
    fee_fixed=cents(0, 500),
    fee_percent=cents(0, 5000),
    minimum=cents(1, 10_000),
)
def test_a_payout_is_stored_exactly_as_quoted_or_refused_for_its_rule(
    diamond_units, rate, fee_fixed, fee_percent, minimum
):
    with _example():
        PayoutRules.objects.filter(currency="USD").update(
            fee_fixed=fee_fixed,
            fee_percent=fee_percent,
            minimum_cashout=minimum,
            daily_maximum=Decimal("9999999999.99"),
        )
        DiamondCashRate.objects.create(
            currency="USD",
            rate=rate,
            effective_at=timezone.now() - datetime.timedelta(seconds=1),
        )
        creator = _payee()
        _credit_diamonds(creator, diamond_units)
        gross = (Decimal(diamond_units) / DIAMOND_SCALE * rate).quantize(
            CENT, ROUND_DOWN
        )
        fee = fee_fixed + (gross * fee_percent / 100).quantize(CENT, ROUND_UP)

        try:
            result = payout_services.payout_request(
                creator=creator, diamond_units=diamond_units, idempotency_key="p"
            )
        except payout_services.PayoutRefused as refusal:
            assert gross < minimum or gross - fee <= 0, str(refusal)
            assert not Payout.objects.exists()
            return

        assert gross >= minimum and gross - fee > 0
        payout = Payout.objects.get(pk=result.payout.pk)
        assert (payout.gross_amount, payout.fee_amount, payout.net_amount) == (
            gross,
            fee,
            gross - fee,
        )
        assert payout_services.payout_quote(
            diamond_units=diamond_units,
            rate=rate,
            rules=PayoutRules.objects.get(currency="USD"),
        ) == (gross, fee, gross - fee)
        # The database agrees: its own check, and its arithmetic.
        assert (
            Payout.objects.filter(gross_amount=F("fee_amount") + F("net_amount"))
            .filter(gross_amount=gross)
            .exists()
        )
        assert Payout.objects.aggregate(
            fee=Sum("fee_amount"), net=Sum("net_amount")
        ) == {"fee": fee, "net": gross - fee}


def _payee():
    return creator_create(
        verification=CreatorProfile.Verification.VERIFIED,
        payout_method=CreatorProfile.PayoutMethod.PAYPAL,
        paypal_email="payee@example.com",
    )


def _credit_diamonds(creator, units: int) -> None:
    from wallets import ledger
    from wallets.models import Transfer

    leg_post(
        debit=ledger.system_account(LedgerAccount.Kind.DIAMOND_ISSUANCE),
        credit=ledger.user_account(creator.user, LedgerAccount.Kind.DIAMONDS),
        amount=units,
        kind=Transfer.Kind.GIFT_EARNING,
        reference=f"test-earnings:{creator.id}:{units}",
        idempotency_key=f"test-earnings:{creator.id}:{units}",
    )


@EXAMPLES
@given(
    grosses=st.lists(cents(100, 300_000), min_size=1, max_size=4),
    daily_maximum=cents(10_000, 1_000_000),
)
def test_the_daily_maximum_refuses_exactly_when_the_exact_sum_passes_it(
    grosses, daily_maximum
):
    with _example():
        # A rate of one cent a diamond: the gross is what was asked, to the cent.
        PayoutRules.objects.filter(currency="USD").update(
            minimum_cashout=CENT,
            fee_fixed=Decimal("0"),
            fee_percent=Decimal("0"),
            daily_maximum=daily_maximum,
        )
        DiamondCashRate.objects.create(
            currency="USD",
            rate=CENT,
            effective_at=timezone.now() - datetime.timedelta(seconds=1),
        )
        creator = _payee()
        _credit_diamonds(creator, sum(int(g * 100) for g in grosses) * DIAMOND_SCALE)
        already = Decimal("0")
        for n, gross in enumerate(grosses):
            try:
                result = payout_services.payout_request(
                    creator=creator,
                    diamond_units=int(gross * 100) * DIAMOND_SCALE,
                    idempotency_key=f"p{n}",
                )
            except payout_services.PayoutRefused:
                assert already + gross > daily_maximum
                continue
            assert already + gross <= daily_maximum
            already += gross
            # Closed so the next may open; it still counts against the day.
            Payout.objects.filter(pk=result.payout.pk).update(status=Payout.Status.PAID)
        stored = Payout.objects.aggregate(total=Sum("gross_amount"))["total"]
        assert (stored or Decimal("0")) == already


# --- Purchases and spending limits ----------------------------------------------


@EXAMPLES
@given(
    prices=st.lists(cents(1, 20_000), min_size=1, max_size=5),
    daily=cents(1, 40_000),
    extra_monthly=cents(0, 40_000),
)
def test_a_spending_limit_refuses_exactly_when_the_exact_sum_passes_it(
    prices, daily, extra_monthly
):
    with _example():
        region = region_create(code="QZ", currency="USD")
        monthly = daily + extra_monthly
        SpendingLimit.objects.create(
            region=region,
            daily_limit=Money(daily, "USD"),
            monthly_limit=Money(monthly, "USD"),
        )
        user = user_create()
        spent = Decimal("0")
        for n, price in enumerate(prices):
            bundle = bundle_create(coins=100 + n)
            price_create(bundle, region, price)
            try:
                result = purchase_buy(user, bundle, region, key=f"k{n}")
            except wallet_services.PurchaseRefused:
                assert spent + price > daily
                continue
            assert spent + price <= daily
            assert result.purchase.price == Money(price, "USD")
            spent += price
        purchases = Purchase.objects.filter(user=user)
        assert sum((p.price.amount for p in purchases), Decimal("0")) == spent
        assert (purchases.aggregate(total=Sum("price"))["total"] or 0) == spent


# --- Bundle prices --------------------------------------------------------------


@EXAMPLES
@given(
    amount=st.integers(1, 10**14 - 1),
    currency=st.sampled_from([("USD", 2), ("EUR", 2), ("JPY", 0), ("IDR", 0)]),
)
def test_a_bundle_price_is_stored_and_read_back_to_the_last_digit(amount, currency):
    code, digits = currency
    # Within the column's 14 digits, at most the currency's decimal places.
    amount = Decimal(amount % 10 ** (12 + digits)).scaleb(-digits) or Decimal(1)
    with _example():
        region = region_create(code="QP", currency=code)
        bundle = bundle_create()

        catalog_services.bundle_prices_set(
            bundle=bundle,
            prices={(region, "app"): amount},
            effective_at=None,
            actor=None,
        )

        stored = BundlePrice.objects.get(bundle=bundle)
        assert stored.price == Money(amount, code)
        assert BundlePrice.objects.filter(price=Money(amount, code)).count() == 1
        assert BundlePrice.objects.filter(price__gt=amount).count() == 0
        assert BundlePrice.objects.aggregate(total=Sum("price"))["total"] == amount


# --- Gifts: the diamond split ---------------------------------------------------


@EXAMPLES
@given(
    coin_price=st.integers(1, 2_000),
    quantity=st.integers(1, 99),
    share=cents(1, 10_000),
)
def test_a_gifts_diamonds_split_exactly_between_creator_and_platform(
    coin_price, quantity, share
):
    with _example():
        CreatorLevel.objects.filter(number=1).update(share_percent=share)
        creator = creator_create()
        coins = coin_price * quantity
        sender = funded_sender(coins=coins)
        gift = Gift.objects.create(slug="prop", name="Prop", coin_price=coin_price)

        gifting_services.gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=quantity,
            placement="live",
            stream_id="s",
            region=None,
            idempotency_key="g",
        )

        send = GiftSend.objects.get()
        assert send.creator_diamond_units == coins * int(share * 100)
        assert send.creator_diamond_units + send.platform_diamond_units == (
            coins * DIAMOND_SCALE
        )
        assert send.share_percent == share


# --- Balance adjustments ------------------------------------------------------


@EXAMPLES
@given(
    amounts=st.lists(st.integers(-(10**6), 10**6).filter(bool), min_size=1, max_size=6),
    kind=st.sampled_from([LedgerAccount.Kind.DIAMONDS, LedgerAccount.Kind.BONUS_COINS]),
)
def test_adjustments_add_up_and_never_overdraw(amounts, kind):
    with _example():
        maker, checker = staff_create(FINANCE), staff_create(FINANCE)
        user = user_create()
        balance = 0
        for n, amount in enumerate(amounts):
            try:
                adjustment = wallet_services.balance_adjustment_request(
                    user=user,
                    account_kind=kind,
                    amount=amount,
                    reason="property",
                    actor=maker,
                    idempotency_key=f"a{n}",
                )
                if amount > 0:
                    # A credit moves only when a second finance user approves it.
                    adjustment = wallet_services.balance_adjustment_approve(
                        adjustment=adjustment, actor=checker
                    )
            except ServiceError:
                assert balance + amount < 0
                continue
            assert balance + amount >= 0
            assert (adjustment.balance_before, adjustment.balance_after) == (
                balance,
                balance + amount,
            )
            balance += amount
        # A refused first adjustment leaves no account behind.
        account = LedgerAccount.objects.filter(owner=user, kind=kind).first()
        assert (account.balance if account else 0) == balance
        adjusted = BalanceAdjustment.objects.filter(
            user=user, status=BalanceAdjustment.Status.APPROVED
        )
        assert (adjusted.aggregate(total=Sum("amount"))["total"] or 0) == balance


# --- The money dashboard --------------------------------------------------------


@EXAMPLES
@given(
    sales=st.lists(
        st.tuples(
            st.sampled_from(["USD", "EUR"]), cents(1, 100_000), st.integers(0, 29)
        ),
        max_size=6,
    ),
    payouts=st.lists(
        st.tuples(
            st.sampled_from(["requested", "approved", "paid"]),
            cents(1, 500_000),
            cents(0, 5_000),
        ),
        max_size=6,
    ),
)
def test_the_money_dashboards_totals_are_the_sums_of_their_parts(sales, payouts):
    now = timezone.now()
    with _example():
        # One buyer per currency: a user buys only in their home region.
        buyers = {"USD": user_create(), "EUR": user_create()}
        regions = {
            "USD": region_create(code="QU", currency="USD"),
            "EUR": region_create(code="QE", currency="EUR"),
        }
        sold = defaultdict(Decimal)
        for n, (currency, amount, days_ago) in enumerate(sales):
            bundle = bundle_create()
            price_create(bundle, regions[currency], amount)
            when = now - datetime.timedelta(days=days_ago)
            purchase_buy(
                buyers[currency], bundle, regions[currency], key=f"k{n}", when=when
            )
            sold[currency, when.astimezone(datetime.UTC).date()] += amount
        expected = defaultdict(lambda: [0, Decimal("0")])
        for n, (status, gross, fee) in enumerate(payouts):
            fee = min(fee, gross - CENT)
            creator = creator_create()
            payout = Payout.objects.create(
                creator=creator,
                requester=creator.user,
                diamond_units=1,
                currency="USD",
                rate=Decimal("0.005"),
                gross_amount=gross,
                fee_amount=fee,
                net_amount=gross - fee,
                method="paypal",
                destination="c@example.com",
                status=status,
                reference=f"PO-{n}",
                idempotency_key=f"k{n}",
            )
            if status == "paid":
                PayoutEvent.objects.create(
                    payout=payout, from_status="processing", to_status="paid", at=now
                )
            expected[status][0] += 1
            expected[status][1] += gross - fee

        dashboard = money_dashboard(now=now)

        for series in dashboard["coins_sold"]:
            by_day = dict(zip(series.days, series.values, strict=True))
            for (currency, day), amount in sold.items():
                if currency == series.label:
                    assert by_day[day] == amount
            assert sum(series.values) == sum(
                amount for (c, _), amount in sold.items() if c == series.label
            )
        assert {s.label for s in dashboard["coins_sold"]} == {c for c, _ in sold}
        for key, status in (
            ("payouts_waiting", "requested"),
            ("payouts_approved", "approved"),
            ("payouts_paid_week", "paid"),
        ):
            count, total = expected[status]
            totals = [Money(total, "USD")] if count else []
            assert dashboard[key] == (count, totals)
