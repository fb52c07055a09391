import datetime
import itertools
from decimal import Decimal

from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from catalog.models import BundlePrice, CoinBundle, Region
from wallets import ledger, services
from wallets.models import Transfer
from wallets.stores import sandbox_receipt

_sequence = itertools.count(1)
ADULT_BIRTH_DATE = datetime.date(1990, 1, 1)


def user_create(**overrides) -> User:
    n = next(_sequence)
    fields = {"username": f"user{n}", "birth_date": ADULT_BIRTH_DATE, **overrides}
    return User.objects.create_user(password="pw", **fields)


def region_create(code="US", currency="USD", **overrides) -> Region:
    region, _ = Region.objects.get_or_create(
        code=code,
        defaults={"name": f"Region {code}", "currency": currency, **overrides},
    )
    return region


def bundle_create(coins=100, price="0.99", **overrides) -> CoinBundle:
    n = next(_sequence)
    return CoinBundle.objects.create(
        sku=overrides.pop("sku", f"coins_{coins}_{n}"),
        coins=coins,
        base_price=Money(Decimal(price), "USD"),
        **overrides,
    )


def price_create(
    bundle, region, amount, channel=BundlePrice.Channel.APP, effective_at=None, **extra
) -> BundlePrice:
    return BundlePrice.objects.create(
        bundle=bundle,
        region=region,
        channel=channel,
        price=Money(Decimal(amount), region.currency),
        effective_at=effective_at or timezone.now() - datetime.timedelta(days=30),
        **extra,
    )


def on_sale(
    coins=100,
    amount="0.99",
    region=None,
    channel=BundlePrice.Channel.APP,
    **bundle_fields,
):
    """A bundle with a current price in `region` (US by default) on `channel`."""
    region = region or region_create()
    bundle = bundle_create(coins=coins, price=amount, **bundle_fields)
    price_create(bundle, region, amount, channel=channel)
    return bundle, region


def purchase_buy(user, bundle, region, *, key: str, when=None, txn=None):
    """`bundle` bought in-app through the purchase service, with a sandbox receipt."""
    return services.purchase_record(
        user=user,
        bundle=bundle,
        region=region,
        channel="app",
        store="apple",
        receipt=sandbox_receipt(
            user.id, bundle.sku, txn or f"txn-{key}", store="apple"
        ),
        idempotency_key=key,
        now=when,
    )


def leg_post(*, reference: str = "test", **leg) -> Transfer:
    """Post one transfer through the ledger's primitive, to set up a test's balances
    (services post through the ledger's event functions instead)."""
    return ledger.transfers_post([ledger.Leg(**leg)], reference=reference)[0]


def staff_create(role: str, **fields) -> User:
    """A staff member in one of the role groups (Finance, Support, ...)."""
    from django.contrib.auth.models import Group

    user = user_create(is_staff=True, **fields)
    user.groups.add(Group.objects.get(name=role))
    return user
