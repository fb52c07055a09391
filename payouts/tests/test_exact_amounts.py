"""Cash amounts the database checks and sums are exact on SQLite as on PostgreSQL."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import User
from gifting.models import CreatorLevel, CreatorProfile
from gifting.tests.factories import rich_creator
from payouts import selectors, services
from payouts.models import Payout, PayoutRules
from wallets import ledger
from wallets.models import DIAMOND_SCALE, LedgerAccount, Transfer, Unit
from wallets.reconciliation import ledger_reconcile

pytestmark = pytest.mark.django_db
PAYOUTS = "/api/v1/payouts/"


@pytest.mark.parametrize(
    ("diamonds", "gross", "fee", "net"),
    [
        # Issue 12: SQLite compared gross = fee + net in binary floating point.
        ("201690", "1008.45", "10.34", "998.11"),
        # The example in docs/payouts.md.
        ("24690", "123.45", "1.49", "121.96"),
    ],
)
def test_a_payout_whose_amounts_add_up_exactly_is_accepted(
    api_client, diamonds, gross, fee, net
):
    creator = rich_creator(diamonds=300_000)
    api_client.force_authenticate(creator.user)

    response = api_client.post(
        PAYOUTS, {"diamonds": diamonds}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 201, response.json()
    body = response.json()["payout"]
    assert (body["gross_amount"], body["fee_amount"], body["net_amount"]) == (
        gross,
        fee,
        net,
    )
    stored = Payout.objects.get()
    assert (stored.gross_amount, stored.fee_amount, stored.net_amount) == (
        Decimal(gross),
        Decimal(fee),
        Decimal(net),
    )
    assert Payout.objects.filter(gross_amount=Decimal(gross)).count() == 1


def _payees_funded(amounts: list[int]) -> list[CreatorProfile]:
    """A verified PayPal creator per amount, holding that many diamond units, as
    the ledger would after a gift earning (set-wise: a thousand take a moment)."""
    level = CreatorLevel.objects.get(number=1)
    users = User.objects.bulk_create(
        User(username=f"payee{n}", birth_date=datetime.date(1990, 1, 1))
        for n in range(len(amounts))
    )
    creators = CreatorProfile.objects.bulk_create(
        CreatorProfile(
            user=user,
            display_name=f"Payee {user.id}",
            follower_count=5000,
            level=level,
            verification=CreatorProfile.Verification.VERIFIED,
            payout_method=CreatorProfile.PayoutMethod.PAYPAL,
            paypal_email=f"payee{user.id}@example.com",
        )
        for user in users
    )
    accounts = LedgerAccount.objects.bulk_create(
        LedgerAccount(
            kind=LedgerAccount.Kind.DIAMONDS,
            unit=Unit.DIAMOND,
            owner=user,
            balance=units,
        )
        for user, units in zip(users, amounts, strict=True)
    )
    issuance = ledger.system_account(LedgerAccount.Kind.DIAMOND_ISSUANCE)
    Transfer.objects.bulk_create(
        Transfer(
            debit_account=issuance,
            credit_account=account,
            unit=Unit.DIAMOND,
            amount=account.balance,
            kind=Transfer.Kind.GIFT_EARNING,
            reference=f"earnings:{account.owner_id}",
            idempotency_key=f"earnings:{account.owner_id}",
        )
        for account in accounts
    )
    return creators


def test_a_thousand_random_payouts_through_the_api_are_exact_to_the_cent(
    api_client,
):
    rules = PayoutRules.objects.get(currency="USD")
    rate = selectors.cash_rate_current(currency="USD", when=timezone.now()).rate
    rng = random.Random(12)
    # Up to 6,000 USD of diamonds at 0.005: some below the 100 USD minimum, some
    # past the 5,000 USD daily maximum, most in between; any ten-thousandth.
    amounts = [rng.randint(1, 1_200_000 * DIAMOND_SCALE) for _ in range(1000)]
    creators = _payees_funded(amounts)
    accepted = refused = 0
    for n, (units, creator) in enumerate(zip(amounts, creators, strict=True)):
        user = creator.user
        gross, fee, net = services.payout_quote(
            diamond_units=units, rate=rate, rules=rules
        )
        allowed = rules.minimum_cashout <= gross <= rules.daily_maximum and net > 0
        api_client.force_authenticate(user)

        response = api_client.post(
            PAYOUTS,
            {"diamonds": str(Decimal(units).scaleb(-4))},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"k{n}",
        )

        if not allowed:
            assert response.status_code == 400, (units, response.json())
            assert not Payout.objects.filter(creator=creator).exists()
            refused += 1
            continue
        assert response.status_code == 201, (units, response.json())
        body = response.json()["payout"]
        assert (body["gross_amount"], body["fee_amount"], body["net_amount"]) == (
            str(gross),
            str(fee),
            str(net),
        )
        payout = Payout.objects.get(creator=creator)
        assert (payout.gross_amount, payout.fee_amount, payout.net_amount) == (
            gross,
            fee,
            net,
        )
        assert payout.fee_amount + payout.net_amount == payout.gross_amount
        accepted += 1
    # The rules refuse some at both ends; most are allowed.
    assert accepted + refused == 1000 and accepted > 800 and refused > 20
    assert ledger_reconcile().is_clean
    # Every stored row passes the exact check in the database, and sums to the cent.
    assert (
        Payout.objects.filter(gross_amount=F("fee_amount") + F("net_amount")).count()
        == accepted
    )
    totals = Payout.objects.aggregate(
        gross=Sum("gross_amount"), fee=Sum("fee_amount"), net=Sum("net_amount")
    )
    assert totals["gross"] == totals["fee"] + totals["net"]
    assert totals["gross"] == sum(p.gross_amount for p in Payout.objects.all())
