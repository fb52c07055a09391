"""The product's starting catalog: ten regions and the six gifts of the design."""

import io
import zlib

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw

from .models import Gift, Region

REGIONS = [
    ("US", "United States", "USD"),
    ("GB", "United Kingdom", "GBP"),
    ("DE", "Germany", "EUR"),
    ("JP", "Japan", "JPY"),
    ("KR", "South Korea", "KRW"),
    ("BR", "Brazil", "BRL"),
    ("IN", "India", "INR"),
    ("ID", "Indonesia", "IDR"),
    ("MX", "Mexico", "MXN"),
    ("TR", "Türkiye", "TRY"),
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
    created = {"regions": 0, "gifts": 0}
    for code, name, currency in REGIONS:
        _, was_created = Region.objects.get_or_create(
            code=code, defaults={"name": name, "currency": currency}
        )
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
        gift.icon.save(f"{slug}.png", ContentFile(_icon_png(slug)), save=False)
        gift.full_clean()
        gift._change_reason = "Seed catalog"
        gift.save()
        created["gifts"] += 1
    return created
