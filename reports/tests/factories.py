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
