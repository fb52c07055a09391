"""Background work at size: approved payouts for real Celery workers to pay.

Each payout stands as the services leave one that finance approved twice: a
verified creator with PayPal earned the diamonds (a gift-earning transfer, as the
test factories fund creators), asked to cash out 200,000 diamonds (USD 1,000, so a
second approval is needed), the diamonds are held (`payout_hold` transfer to the
payout hold account), and two finance users approved it, each step a `PayoutEvent`.
Inserted set-wise with `INSERT ... SELECT`, so 10,000 take seconds; the ledger
reconciles before and after the workers pay them.
"""

import datetime

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from gifting.models import CreatorLevel, CreatorProfile
from payouts import selectors as payout_selectors
from payouts import services as payout_services
from payouts.models import Payout, PayoutRules, SandboxPayoutRecord
from wallets import ledger
from wallets.models import AccountKind, Transfer
from wallets.units import units_from_diamonds

from .admin_pages import finance_users, payout_amounts_stored
from .seed import _accounts, _users

KEY_PREFIX = "bench-celery-"
PAYOUT_DIAMONDS = 200_000


@transaction.atomic
def approved_payouts_create(*, count: int) -> dict:
    """`count` payees, each with one payout approved by two finance users."""
    if Payout.objects.filter(idempotency_key__startswith=KEY_PREFIX).exists():
        raise RuntimeError("The approved payouts exist: use a fresh database.")
    first, second = finance_users()
    rules = PayoutRules.objects.get(currency="USD")
    now = timezone.now()
    rate = payout_selectors.cash_rate_current(currency="USD", when=now)
    units = units_from_diamonds(PAYOUT_DIAMONDS)
    gross, fee, net = payout_services.payout_quote(
        diamond_units=units, rate=rate.rate, rules=rules
    )
    if gross < rules.second_approval_from:
        raise RuntimeError("The benchmark's payouts are meant to need two approvals.")
    users = _users("bench-payee", count)
    _accounts(users, [AccountKind.DIAMONDS])
    level = CreatorLevel.objects.order_by("number").first()
    creators = bulk_create_with_history(
        [
            CreatorProfile(
                user=user,
                display_name=f"Bench payee {number}",
                follower_count=1_000,
                verification=CreatorProfile.Verification.VERIFIED,
                level=level,
                payout_method=CreatorProfile.PayoutMethod.PAYPAL,
                paypal_email=f"bench-payee-{number}@example.com",
            )
            for number, user in enumerate(users)
        ],
        CreatorProfile,
        batch_size=1000,
    )
    params = {
        "creators": [creator.id for creator in creators],
        "users": [user.id for user in users],
        "units": units,
        "rate": rate.rate,
        **payout_amounts_stored(gross=gross, fee=fee, net=net),
        "first": first.id,
        "second": second.id,
        "prefix": KEY_PREFIX,
        "requested": now - datetime.timedelta(hours=2),
        "now": now,
        "issuance": ledger.system_account(AccountKind.DIAMOND_ISSUANCE).id,
        "hold": ledger.system_account(AccountKind.PAYOUT_HOLD).id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_EARNINGS, params)
        cursor.execute(_PAYOUTS, params)
        cursor.execute(_HOLDS, params)
        cursor.execute(_EVENTS, params)
    return {
        "approved_payouts": Payout.objects.filter(
            idempotency_key__startswith=KEY_PREFIX, status=Payout.Status.APPROVED
        ).count(),
        "net_each": str(net),
    }


# Earned, then held in full: the payee's cached balance stays 0 = +units - units.
_EARNINGS = """
INSERT INTO wallets_transfer (debit_account_id, credit_account_id, unit, amount,
    kind, reference, idempotency_key, created_at)
SELECT %(issuance)s, account.id, 'diamond', %(units)s, 'gift_earning',
    'bench-payee-earnings:' || account.owner_id,
    'bench-payee-earnings:' || account.owner_id, %(requested)s
FROM wallets_ledgeraccount account
WHERE account.owner_id = ANY(%(users)s::bigint[]) AND account.kind = 'diamonds'
ORDER BY account.owner_id
"""

_PAYOUTS = """
INSERT INTO payouts_payout (
    creator_id, requester_id, diamond_units, currency, rate, gross_amount,
    fee_amount, net_amount, needs_second_approval, method, destination,
    method_changed_at, status, reference, idempotency_key, first_approver_id,
    second_approver_id, provider_id, failure_reason, requested_at, updated_at)
SELECT creator.id, creator.user_id, %(units)s, 'USD', %(rate)s, %(gross)s,
    %(fee)s, %(net)s, true, 'paypal', creator.paypal_email, NULL, 'approved',
    'PO-BENCH-C' || creator.id, %(prefix)s || creator.id, %(first)s, %(second)s,
    '', '', %(requested)s, %(now)s
FROM payouts_creatorprofile creator
WHERE creator.id = ANY(%(creators)s::bigint[])
ORDER BY creator.id
"""

_HOLDS = """
INSERT INTO wallets_transfer (debit_account_id, credit_account_id, unit, amount,
    kind, reference, idempotency_key, created_at)
SELECT account.id, %(hold)s, 'diamond', payout.diamond_units, 'payout_hold',
    'payout:' || payout.id, 'payout:' || payout.id || ':hold', payout.requested_at
FROM payouts_payout payout
JOIN wallets_ledgeraccount account
    ON account.owner_id = payout.requester_id AND account.kind = 'diamonds'
WHERE payout.idempotency_key LIKE %(prefix)s || '%%'
ORDER BY payout.id
"""

_EVENTS = """
INSERT INTO payouts_payoutevent (payout_id, from_status, to_status, actor_id, note, at)
SELECT payout.id, step.from_status, step.to_status, step.actor, '', step.at
FROM payouts_payout payout
CROSS JOIN LATERAL (VALUES
    ('', 'requested', payout.requester_id, payout.requested_at),
    ('requested', 'awaiting_second', %(first)s,
        payout.requested_at + interval '30 minutes'),
    ('awaiting_second', 'approved', %(second)s,
        payout.requested_at + interval '60 minutes')
) AS step(from_status, to_status, actor, at)
WHERE payout.idempotency_key LIKE %(prefix)s || '%%'
ORDER BY payout.id, step.at
"""


def payouts_progress() -> dict:
    """How many of the benchmark's payouts are in each state."""
    return dict(
        Payout.objects.filter(idempotency_key__startswith=KEY_PREFIX)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def payouts_check() -> dict:
    """After the workers: each payout paid once, its diamonds moved hold -> paid out."""
    payouts = Payout.objects.filter(idempotency_key__startswith=KEY_PREFIX)
    references = payouts.values("reference")
    records = SandboxPayoutRecord.objects.filter(reference__in=references)
    paid_transfers = Transfer.objects.filter(
        kind=Transfer.Kind.PAYOUT,
        reference__in=[f"payout:{pk}" for pk in payouts.values_list("id", flat=True)],
    )
    return {
        "payouts": payouts.count(),
        "by_status": payouts_progress(),
        "paid_transfers": paid_transfers.count(),
        "provider_paid_once": records.filter(times_paid=1).count(),
        "provider_paid_twice_or_more": records.filter(times_paid__gt=1).count(),
        "provider_received_more_than_once": records.filter(
            times_received__gt=1
        ).count(),
    }
