import datetime
import itertools
from decimal import Decimal

from django.utils import timezone
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from catalog.exchange import StaffRatesBackend
from catalog.models import BundlePrice, CoinBundle, Gift, Region

_sequence = itertools.count(1)


def region_create(code: str = "US", **overrides) -> Region:
    fields = {"name": f"Region {code}", "currency": "USD", **overrides}
    region, _ = Region.objects.get_or_create(code=code, defaults=fields)
    return region


def gift_create(**overrides) -> Gift:
    n = next(_sequence)
    regions = overrides.pop("regions", [])
    fields = {
        "name": f"Gift {n}",
        "slug": f"gift-{n}",
        "coin_price": 10,
        "sort_order": n,
        **overrides,
    }
    gift = Gift.objects.create(**fields)
    gift.regions.set(regions)
    return gift


def bundle_create(**overrides) -> CoinBundle:
    n = next(_sequence)
    fields = {
        "sku": f"bundle-{n}",  # never one of the SKUs tests pick by hand
        "coins": 100,
        "base_price": Money("0.99", "USD"),
        "sort_order": n,
        **overrides,
    }
    return CoinBundle.objects.create(**fields)


def price_create(
    bundle: CoinBundle,
    region: Region,
    amount: str,
    *,
    channel: str = BundlePrice.Channel.APP,
    effective_at: datetime.datetime | None = None,
    source: str = BundlePrice.Source.MANUAL,
) -> BundlePrice:
    return BundlePrice.objects.create(
        bundle=bundle,
        region=region,
        channel=channel,
        price=Money(amount, region.currency),
        effective_at=effective_at or timezone.now() - datetime.timedelta(days=1),
        source=source,
    )


def rate_set(currency: str, value: str) -> Rate:
    """A rate staff keep in the admin: USD to `currency`."""
    backend, _ = ExchangeBackend.objects.get_or_create(
        name=StaffRatesBackend.name, defaults={"base_currency": "USD"}
    )
    rate, _ = Rate.objects.update_or_create(
        backend=backend, currency=currency, defaults={"value": Decimal(value)}
    )
    return rate
