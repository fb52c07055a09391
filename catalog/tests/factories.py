import itertools

from catalog.models import Gift, Region

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
