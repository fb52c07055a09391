"""Benchmark population: senders with coins, buyers, 1,000 creators, API tokens.

Each buyer also gets a pool of signed sandbox receipts for `PURCHASE_BUNDLE`: wrk's
LuaJIT cannot compute HMAC-SHA256, so the receipts are minted here and the Lua
script hands out one per purchase request.

Runs after `seed_catalog` and `seed_wallets`. Rows that carry no money (users,
tokens, creator profiles, empty ledger accounts) are bulk-created; every coin a
sender holds comes from a `Purchase` lot credited by `wallets.ledger.purchase_post`,
as `purchase_record` credits one, so reconciliation stays clean. Each sender also
gets django-hordak accounts opened with the same coins, for the peer scenario
(bench/peer.py).
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from catalog.models import BundlePrice, CoinBundle, Region
from catalog.selectors import bundle_price_current
from gifting.models import CreatorLevel, CreatorProfile
from wallets import ledger
from wallets.models import AccountKind, HomeRegion, LedgerAccount, Purchase
from wallets.stores import sandbox_receipt

from .peer import hordak_wallets_create

ADULT_BIRTH_DATE = datetime.date(1990, 1, 1)
# A bundle without bonus coins: gifts then spend paid coins from purchase lots,
# the longer path (bonus coins would be spent first and skip the lots).
FUNDING_BUNDLE = "coins_500"
FUNDING_REGION = "US"
# Every bench user's home region: the region the purchases and gifts of
# bench/scenarios.py name.
HOME_REGION = FUNDING_REGION
FUNDING_STORE = Purchase.Store.APPLE
# What the purchase scenario buys (bench/scenarios.py's PURCHASE_BODY).
PURCHASE_BUNDLE = "coins_100"
# The purchase scenario's receipts are Apple's, as its request body says.
PURCHASE_STORE = Purchase.Store.APPLE
# Purchases a buyer can make over every run of the purchase scenario; a full run
# (2 s warm-up + 10 s) uses a handful each.
RECEIPTS_PER_BUYER = 100
BATCH = 1000


@dataclass(frozen=True)
class Population:
    sender_tokens: list[str]
    buyer_tokens: list[str]
    creator_ids: list[int]
    # buyer_receipts[i] is buyer i's pool, in buyer_tokens' order.
    buyer_receipts: list[list[str]]


def _users(prefix: str, count: int) -> list[User]:
    # One unusable password for all: hashing one per user would dominate seeding.
    password = make_password(None)
    users = [
        User(
            username=f"{prefix}-{number:06d}",
            birth_date=ADULT_BIRTH_DATE,
            password=password,
        )
        for number in range(count)
    ]
    return User.objects.bulk_create(users, batch_size=BATCH)


def _home_regions(users: list[User]) -> None:
    region = Region.objects.get(code=HOME_REGION)
    HomeRegion.objects.bulk_create(
        [
            HomeRegion(
                user=user,
                region=region,
                source=HomeRegion.Source.PLATFORM,
                reason="Benchmark population.",
            )
            for user in users
        ],
        batch_size=BATCH,
    )


def _tokens(users: list[User]) -> list[str]:
    tokens = [Token(key=Token.generate_key(), user=user) for user in users]
    Token.objects.bulk_create(tokens, batch_size=BATCH)
    return [token.key for token in tokens]


def _accounts(users: list[User], kinds) -> None:
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(kind=kind, unit=LedgerAccount.unit_for(kind), owner=user)
            for user in users
            for kind in kinds
        ],
        batch_size=BATCH,
    )


def _fund(users: list[User], lots: int) -> int:
    """Give each user `lots` purchases of the funding bundle, credited by the ledger.

    Returns the coins each user then holds."""
    bundle = CoinBundle.objects.get(sku=FUNDING_BUNDLE)
    if bundle.bonus_coins:
        raise RuntimeError(f"{FUNDING_BUNDLE} must be a bundle without bonus coins.")
    region = Region.objects.get(code=FUNDING_REGION)
    channel = Purchase.CHANNEL_OF_STORE[FUNDING_STORE]
    now = timezone.now()
    price = bundle_price_current(
        bundle=bundle, region=region, channel=channel, when=now
    )
    if price is None:
        raise RuntimeError(f"{FUNDING_BUNDLE} has no {channel} price in {region.code}.")
    purchases = Purchase.objects.bulk_create(
        [
            Purchase(
                user=user,
                bundle=bundle,
                region=region,
                channel=channel,
                store=FUNDING_STORE,
                store_transaction_id=f"bench-seed-{user.id}-{lot}",
                idempotency_key=f"bench-seed-{lot}",
                bundle_price=price,
                price=price.price,
                coins=bundle.coins,
                bundle_bonus_coins=bundle.bonus_coins,
                paid_coins_remaining=bundle.coins,
                # Apart by a second, so "oldest lot first" has an order to follow.
                created_at=now - datetime.timedelta(seconds=lots - lot),
            )
            for user in users
            for lot in range(lots)
        ],
        batch_size=BATCH,
    )
    paid_accounts = {
        account.owner_id: account
        for account in LedgerAccount.objects.filter(
            kind=AccountKind.PAID_COINS, owner__in=users
        )
    }
    for purchase in purchases:
        # No bonus coins, so the paid-coin account is all the purchase touches.
        accounts = {AccountKind.PAID_COINS: paid_accounts[purchase.user_id]}
        ledger.purchase_post(purchase=purchase, accounts=accounts)
    return lots * bundle.coins


def _creators(count: int) -> list[int]:
    users = _users("bench-creator", count)
    _accounts(users, [AccountKind.DIAMONDS])
    level = CreatorLevel.objects.order_by("number").first()
    profiles = bulk_create_with_history(
        [
            CreatorProfile(
                user=user,
                display_name=f"Bench creator {number}",
                follower_count=1_000 + number,
                verification=CreatorProfile.Verification.VERIFIED,
                level=level,
            )
            for number, user in enumerate(users)
        ],
        CreatorProfile,
        batch_size=BATCH,
    )
    return [profile.id for profile in profiles]


def _receipts(users: list[User], count: int) -> list[list[str]]:
    """Per buyer, `count` receipts for distinct store transactions, signed for them."""
    if not CoinBundle.objects.filter(sku=PURCHASE_BUNDLE).exists():
        raise RuntimeError(f"No bundle {PURCHASE_BUNDLE} to mint receipts for.")
    return [
        [
            sandbox_receipt(
                user.id,
                PURCHASE_BUNDLE,
                f"bench-{user.id}-{number}",
                store=PURCHASE_STORE,
            )
            for number in range(count)
        ]
        for user in users
    ]


def receipts_write(path, buyer_receipts: list[list[str]]) -> None:
    """One receipt a line, buyer by buyer: buyer i's k-th is line i * count + k + 1.

    bench/lua/scenario.lua reads it next to the buyers' tokens file.
    """
    with open(path, "w") as out:
        for pool in buyer_receipts:
            out.writelines(f"{receipt}\n" for receipt in pool)


@transaction.atomic
def population_create(
    *,
    senders: int,
    buyers: int,
    creators: int,
    lots: int,
    receipts: int = RECEIPTS_PER_BUYER,
) -> Population:
    """Create the benchmark's users once, in a fresh database."""
    if User.objects.filter(username__startswith="bench-").exists():
        raise RuntimeError("The benchmark population exists: seed a fresh database.")
    if not BundlePrice.objects.exists():
        raise RuntimeError("Run seed_catalog and seed_wallets first.")
    sender_users = _users("bench-sender", senders)
    _accounts(sender_users, [AccountKind.PAID_COINS, AccountKind.BONUS_COINS])
    coins = _fund(sender_users, lots)
    # The peer scenario's hordak accounts, opened with the same coins.
    hordak_wallets_create(users=sender_users, coins=coins)
    buyer_users = _users("bench-buyer", buyers)
    _home_regions(sender_users + buyer_users)
    return Population(
        sender_tokens=_tokens(sender_users),
        buyer_tokens=_tokens(buyer_users),
        creator_ids=_creators(creators),
        buyer_receipts=_receipts(buyer_users, receipts),
    )
