import datetime

from django.utils import timezone

from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    user_create,
)


def sales_on_days(days_ago: list[int], *, region=None, amount="4.99") -> None:
    """One purchase of `amount` in `region` (US) on each day `days_ago` before now."""
    long_ago = timezone.now() - datetime.timedelta(days=400)
    bundle = bundle_create(coins=100, price=amount)
    region = region or region_create()
    price_create(bundle, region, amount, effective_at=long_ago)
    buyer = user_create()
    for n, ago in enumerate(days_ago):
        purchase_buy(
            buyer,
            bundle,
            region,
            key=f"sale-{region.code}-{buyer.pk}-{n}",
            when=timezone.now() - datetime.timedelta(days=ago),
        )


def transfers_bulk(rows) -> list:
    """Transfers written straight to the ledger's table, to read them back:
    each row (debit kind, credit kind, transfer kind, amount, moment). User kinds
    are one user's accounts; balances are not kept (the journal reads transfers)."""
    from wallets import ledger
    from wallets.models import LedgerAccount, Transfer

    owner = user_create()
    accounts = {}

    def account(kind):
        if kind not in accounts:
            accounts[kind] = (
                ledger.user_account(owner, kind)
                if kind in LedgerAccount.USER_KINDS
                else ledger.system_account(kind)
            )
        return accounts[kind]

    return Transfer.objects.bulk_create(
        [
            Transfer(
                debit_account=account(debit),
                credit_account=account(credit),
                unit=LedgerAccount.unit_for(debit),
                amount=amount,
                kind=kind,
                reference=f"test:{n}",
                idempotency_key=f"bulk:{owner.pk}:{n}",
                created_at=when,
            )
            for n, (debit, credit, kind, amount, when) in enumerate(rows)
        ],
        batch_size=2_000,
    )
