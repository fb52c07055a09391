"""Demo data for a local run: the demo creator can receive, the viewer has coins."""

from django.db import transaction

from accounts.models import User
from catalog.models import CoinBundle, Region
from wallets import services as wallet_services
from wallets.stores import sandbox_receipt

from .models import CreatorLevel, CreatorProfile

DEMO_BUNDLE = "coins_1000"


@transaction.atomic
def demo_economy_create() -> list[str]:
    """Make `creator` a creator and buy `viewer` a bundle, once; returns what it did."""
    done = []
    creator_user = User.objects.filter(username="creator").first()
    if creator_user and not CreatorProfile.objects.filter(user=creator_user).exists():
        CreatorProfile.objects.create(
            user=creator_user,
            display_name="Demo Creator",
            follower_count=12_000,
            verification=CreatorProfile.Verification.VERIFIED,
            level=CreatorLevel.objects.order_by("number").first(),
        )
        done.append("creator can receive gifts")
    viewer = User.objects.filter(username="viewer").first()
    bundle = CoinBundle.objects.filter(sku=DEMO_BUNDLE).first()
    region = Region.objects.filter(code="US").first()
    if viewer and bundle and region and not viewer.purchases.exists():
        purchase = wallet_services.purchase_record(
            user=viewer,
            bundle=bundle,
            region=region,
            channel="app",
            store="apple",
            receipt=sandbox_receipt(
                viewer.id, bundle.sku, "demo-viewer-first-purchase", store="apple"
            ),
            idempotency_key="demo-viewer-first-purchase",
        ).purchase
        done.append(
            f"viewer bought {purchase.coins} coins (+{purchase.bonus_coins} bonus)"
        )
    return done
