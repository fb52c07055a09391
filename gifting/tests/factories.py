import itertools

from django.db import transaction

from catalog.tests.factories import gift_create
from gifting.models import CreatorLevel, CreatorProfile
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, AccountKind, Transfer
from wallets.stores import sandbox_receipt
from wallets.tests.factories import leg_post, on_sale, user_create

_sequence = itertools.count(1)


def creator_create(**overrides) -> CreatorProfile:
    user = overrides.pop("user", None) or user_create()
    fields = {
        "display_name": f"Creator {user.id}",
        "follower_count": 5000,
        "level": CreatorLevel.objects.get(number=1),
        **overrides,
    }
    return CreatorProfile.objects.create(user=user, **fields)


def funded_sender(coins: int = 1000, **user_fields):
    """A user holding `coins` paid coins, bought through the real purchase service."""
    sender = user_create(**user_fields)
    n = next(_sequence)
    bundle, region = on_sale(coins=coins, amount="9.99")
    wallet_services.purchase_record(
        user=sender,
        bundle=bundle,
        region=region,
        channel="app",
        store="apple",
        receipt=sandbox_receipt(
            sender.id, bundle.sku, f"fund-{sender.id}-{n}", store="apple"
        ),
        idempotency_key=f"fund-{n}",
    )
    return sender


def rose(**overrides):
    fields = {"slug": "rose", "name": "Rose", "coin_price": 1, **overrides}
    return gift_create(**fields)


def rich_creator(diamonds: int = 100_000, **overrides) -> CreatorProfile:
    """A verified creator with PayPal and `diamonds` whole diamonds to cash out."""
    fields = {
        "verification": CreatorProfile.Verification.VERIFIED,
        "payout_method": CreatorProfile.PayoutMethod.PAYPAL,
        "paypal_email": "creator@example.com",
        **overrides,
    }
    creator = creator_create(**fields)
    with transaction.atomic():
        leg_post(
            debit=ledger.system_account(AccountKind.DIAMOND_ISSUANCE),
            credit=ledger.user_account(creator.user, AccountKind.DIAMONDS),
            amount=diamonds * DIAMOND_SCALE,
            kind=Transfer.Kind.GIFT_EARNING,
            reference=f"test-earnings:{creator.id}",
            idempotency_key=f"test-earnings:{creator.id}",
        )
    return creator
