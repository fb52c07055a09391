"""The product's starting catalog: ten regions, the six gifts of the design, five
coin bundles with prices in every region and channel, and the rates behind them."""

import io
import zlib
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money
from PIL import Image, ImageDraw
from simple_history.utils import update_change_reason

from . import languages, services
from .exchange import StaffRatesBackend
from .models import CoinBundle, Gift, Region

Rule = Region.PriceRule

# code, name, currency, price rule, web discount %, shown prices include tax
REGIONS = [
    ("US", "United States", "USD", Rule.ENDS_99, "0", False),
    ("GB", "United Kingdom", "GBP", Rule.ENDS_99, "15", True),
    ("DE", "Germany", "EUR", Rule.ENDS_99, "15", True),
    ("JP", "Japan", "JPY", Rule.WHOLE, "10", True),
    ("KR", "South Korea", "KRW", Rule.WHOLE, "10", True),
    ("BR", "Brazil", "BRL", Rule.ENDS_99, "15", True),
    ("IN", "India", "INR", Rule.ROUND_10, "20", True),
    ("ID", "Indonesia", "IDR", Rule.ROUND_100, "20", True),
    ("MX", "Mexico", "MXN", Rule.ENDS_99, "15", True),
    ("TR", "Türkiye", "TRY", Rule.ENDS_99, "20", True),
]

# Units of each currency per US dollar, kept by staff afterwards (Exchange rates).
RATES = {
    "GBP": "0.79",
    "EUR": "0.92",
    "JPY": "150",
    "KRW": "1350",
    "BRL": "5.00",
    "INR": "83",
    "IDR": "15800",
    "MXN": "17.00",
    "TRY": "32.50",
}

# sku, coins, bonus coins, USD base price
BUNDLES = [
    ("coins_100", 100, 0, "0.99"),
    ("coins_500", 500, 0, "4.99"),
    ("coins_1000", 1_000, 50, "9.99"),
    ("coins_5000", 5_000, 400, "49.99"),
    ("coins_10000", 10_000, 1_000, "99.99"),
]

GIFTS = [
    ("rose", "Rose", 1, Gift.Category.BASIC, "A single rose: the classic thank-you."),
    ("live", "Live", 5, Gift.Category.BASIC, "Cheer the stream on."),
    ("applause", "Applause", 50, Gift.Category.POPULAR, "A round of applause."),
    (
        "dynamic-duo",
        "Dynamic Duo",
        100,
        Gift.Category.POPULAR,
        "Two heroes, one stream.",
    ),
    (
        "directors-chair",
        "Director's Chair",
        500,
        Gift.Category.PREMIUM,
        "Take the seat.",
    ),
    (
        "lion-dance",
        "Lion Dance",
        2000,
        Gift.Category.LUXURY,
        "A full-screen lion dance.",
    ),
]

# Some names in other languages, so the demo answers `Accept-Language: de` (the rest
# read English, as a gift staff have not translated yet does).
TRANSLATED_NAMES = {
    "rose": {"de": "Rose", "es": "Rosa", "ja": "バラ", "pt-br": "Rosa"},
    "applause": {"de": "Applaus", "es": "Aplausos", "ja": "拍手"},
    "lion-dance": {"de": "Löwentanz", "es": "Danza del león", "ja": "獅子舞"},
}


# The change reason of what the seed writes, on the history pages.
SEED_REASON = "Seed catalog"


def _icon_png(slug: str) -> bytes:
    hue = zlib.crc32(slug.encode()) % 360
    image = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 120, 120), fill=f"hsl({hue}, 70%, 55%)")
    draw.text((64, 64), slug[0].upper(), fill="white", anchor="mm", font_size=64)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@transaction.atomic
def seed_catalog() -> dict[str, int]:
    """Create what is missing; never touch what exists, so staff edits survive."""
    created = {"regions": 0, "gifts": 0, "bundles": 0, "rates": 0, "prices": 0}
    regions = []
    for code, name, currency, rule, web_discount, includes_tax in REGIONS:
        region, was_created = Region.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "currency": currency,
                "price_rule": rule,
                "web_discount_percent": Decimal(web_discount),
                "prices_include_tax": includes_tax,
            },
        )
        regions.append(region)
        if was_created:
            update_change_reason(region, SEED_REASON)
        created["regions"] += was_created
    for sort_order, (slug, name, price, category, description) in enumerate(GIFTS):
        if Gift.objects.filter(slug=slug).exists():
            continue
        gift = Gift(
            slug=slug,
            name=name,
            coin_price=price,
            category=category,
            description=description,
            sort_order=(sort_order + 1) * 10,
        )
        for code, translated in TRANSLATED_NAMES.get(slug, {}).items():
            setattr(gift, languages.column("name", code), translated)
        gift.icon.save(f"{slug}.png", ContentFile(_icon_png(slug)), save=False)
        gift.full_clean()
        gift._change_reason = SEED_REASON
        gift.save()
        created["gifts"] += 1
    created["rates"] = _seed_rates()
    bundles = []
    for sort_order, (sku, coins, bonus_coins, base_price) in enumerate(BUNDLES):
        bundle, was_created = CoinBundle.objects.get_or_create(
            sku=sku,
            defaults={
                "coins": coins,
                "bonus_coins": bonus_coins,
                "base_price": Money(base_price, "USD"),
                "sort_order": (sort_order + 1) * 10,
            },
        )
        bundles.append(bundle)
        if was_created:
            update_change_reason(bundle, SEED_REASON)
        created["bundles"] += was_created
    created["prices"] = services.bundle_prices_fill(bundles=bundles, regions=regions)
    return created


def _seed_rates() -> int:
    backend, _ = ExchangeBackend.objects.get_or_create(
        name=StaffRatesBackend.name, defaults={"base_currency": "USD"}
    )
    created = 0
    for currency, value in RATES.items():
        _, was_created = Rate.objects.get_or_create(
            backend=backend, currency=currency, defaults={"value": Decimal(value)}
        )
        created += was_created
    return created
