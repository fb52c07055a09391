"""Default spending limits per seeded region and a first-purchase bonus."""

from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from catalog.models import Region

from .models import Promotion, SpendingLimit

# (daily, monthly) in each region's own currency: about USD 500 and 2,000.
LIMITS = {
    "USD": ("500", "2000"),
    "GBP": ("400", "1600"),
    "EUR": ("450", "1800"),
    "JPY": ("75000", "300000"),
    "KRW": ("650000", "2600000"),
    "BRL": ("2500", "10000"),
    "INR": ("40000", "160000"),
    "IDR": ("7500000", "30000000"),
    "MXN": ("9000", "36000"),
    "TRY": ("15000", "60000"),
}
WELCOME_BONUS = "Welcome bonus"


@transaction.atomic
def seed_wallets() -> dict[str, int]:
    """Create what is missing; never touch what exists."""
    created = {"limits": 0, "promotions": 0}
    for region in Region.objects.filter(currency__in=LIMITS):
        daily, monthly = LIMITS[str(region.currency)]
        _, was_created = SpendingLimit.objects.get_or_create(
            region=region,
            defaults={
                "daily_limit": Money(Decimal(daily), region.currency),
                "monthly_limit": Money(Decimal(monthly), region.currency),
            },
        )
        created["limits"] += was_created
    _, was_created = Promotion.objects.get_or_create(
        name=WELCOME_BONUS,
        defaults={
            "kind": Promotion.Kind.FIRST_PURCHASE,
            "bonus_percent": Decimal("10"),
        },
    )
    created["promotions"] += was_created
    return created
