"""A user's home region decides where they buy; the client's `region` must match it."""

import pytest
from djmoney.money import Money

from audit.models import AuditRecord
from catalog.models import Region
from catalog.tests.factories import rate_set
from core.errors import ServiceError
from wallets import services
from wallets.models import HomeRegion, Purchase, SpendingLimit, Transfer
from wallets.stores import ReceiptRejected, sandbox_receipt

from .factories import on_sale, price_create, region_create, staff_create, user_create

pytestmark = pytest.mark.django_db
PURCHASES = "/api/v1/purchases/"


def post_purchase(api_client, user, *, region, txn, key, storefront=None):
    body = {
        "bundle": "coins_500",
        "region": region,
        "channel": "app",
        "store": "apple",
        "receipt": sandbox_receipt(
            user.id, "coins_500", txn, store="apple", storefront=storefront
        ),
    }
    return api_client.post(PURCHASES, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def us_and_gb():
    """coins_500 on sale in the US (USD 4.99) and in GB (GBP 3.99), daily limit 10."""
    bundle, us = on_sale(coins=500, amount="4.99", sku="coins_500")
    gb = region_create("GB", currency="GBP")
    price_create(bundle, gb, "3.99")
    for region in (us, gb):
        SpendingLimit.objects.create(
            region=region,
            daily_limit=Money("10", region.currency),
            monthly_limit=Money("100", region.currency),
        )
    return us, gb


def test_naming_gb_instead_of_us_does_not_pass_the_us_daily_limit(
    api_client, us_and_gb
):
    user = user_create()
    api_client.force_authenticate(user)
    for n in (1, 2):
        response = post_purchase(
            api_client, user, region="US", txn=f"t{n}", key=f"k{n}"
        )
        assert response.status_code == 201
    refused = post_purchase(api_client, user, region="US", txn="t3", key="k3")
    assert refused.status_code == 403
    assert refused.json()["code"] == "daily_limit_reached"
    purchases, transfers = Purchase.objects.count(), Transfer.objects.count()

    # The same receipt, the client now naming another region.
    again = post_purchase(api_client, user, region="GB", txn="t3", key="k3-gb")

    assert again.status_code == 400
    assert again.json() == {
        "region": [
            "Your home region is US: you buy coins there, not in GB. "
            "Support can change your home region."
        ]
    }
    assert (Purchase.objects.count(), Transfer.objects.count()) == (
        purchases,
        transfers,
    )


def buy(user, bundle, region, *, txn, storefront=None, store="apple"):
    return services.purchase_record(
        user=user,
        bundle=bundle,
        region=region,
        channel="app",
        store=store,
        receipt=sandbox_receipt(
            user.id, bundle.sku, txn, store=store, storefront=storefront
        ),
        idempotency_key=f"key-{txn}",
    )


def nothing_written(purchases=0, transfers=0):
    return (Purchase.objects.count(), Transfer.objects.count()) == (
        purchases,
        transfers,
    )


def test_the_first_purchase_sets_the_home_region_from_the_storefront():
    bundle, _ = on_sale(sku="coins_100")
    jp = region_create("JP", currency="JPY")
    price_create(bundle, jp, "160")
    user = user_create()

    buy(user, bundle, jp, txn="t1", storefront="JP")

    home = HomeRegion.objects.get(user=user)
    assert (home.region, home.source, home.set_by) == (
        jp,
        HomeRegion.Source.STOREFRONT,
        None,
    )
    assert home.reason == "The App Store charged the first purchase in JP."


def test_without_a_storefront_the_first_purchase_names_the_home_region():
    bundle, us = on_sale(sku="coins_100")
    user = user_create()

    buy(user, bundle, us, txn="t1")
    buy(user, bundle, us, txn="t2")

    home = HomeRegion.objects.get(user=user)
    assert (home.region, home.source) == (us, HomeRegion.Source.FIRST_PURCHASE)
    assert "reported no storefront" in home.reason


def test_a_refused_first_purchase_sets_no_home_region():
    bundle, us = on_sale(sku="coins_100", amount="4.99")
    gb = region_create("GB", currency="GBP")
    price_create(bundle, gb, "3.99")
    SpendingLimit.objects.create(
        region=us, daily_limit=Money("1", "USD"), monthly_limit=Money("1", "USD")
    )
    user = user_create()

    with pytest.raises(services.PurchaseRefused, match="daily spending limit"):
        buy(user, bundle, us, txn="t1")
    with pytest.raises(ReceiptRejected, match="JP storefront"):
        buy(user, bundle, gb, txn="t2", storefront="JP")

    assert not HomeRegion.objects.exists()
    assert nothing_written()
    assert buy(user, bundle, gb, txn="t3").created  # so GB it is
    assert HomeRegion.objects.get(user=user).region == gb


def test_a_receipt_from_a_storefront_other_than_the_home_region_is_refused(
    api_client, us_and_gb
):
    user = user_create()
    api_client.force_authenticate(user)
    first = post_purchase(api_client, user, region="US", txn="t1", key="k1")
    assert first.status_code == 201

    for region in ("US", "GB"):
        response = post_purchase(
            api_client, user, region=region, txn="t2", key=region, storefront="GB"
        )
        assert response.status_code == 400
        assert list(response.json()) == ["region"]
    assert "Your home region is US" in response.json()["region"][0]
    assert nothing_written(1, 1)


def test_buying_in_two_regions_before_a_home_region_is_one_region(us_and_gb):
    us, gb = us_and_gb
    bundle = us_and_gb_bundle()
    user = user_create()

    buy(user, bundle, gb, txn="t1")
    with pytest.raises(services.PurchaseRefused) as refused:
        buy(user, bundle, us, txn="t2")

    assert (refused.value.field, refused.value.code) == ("region", "not_home_region")
    assert nothing_written(1, 1)


def us_and_gb_bundle():
    from catalog.models import CoinBundle

    return CoinBundle.objects.get(sku="coins_500")


def test_spending_in_every_region_counts_against_the_home_regions_limit(us_and_gb):
    """Moved from the US to GB mid-day: the day's USD spending counts in GBP."""
    us, gb = us_and_gb
    rate_set("GBP", "0.8")
    bundle = us_and_gb_bundle()
    user = user_create()
    buy(user, bundle, us, txn="t1")
    buy(user, bundle, us, txn="t2")  # USD 9.98 = GBP 7.984
    services.home_region_set(user=user, region=gb, actor=None, reason="Moved.")

    with pytest.raises(services.PurchaseRefused) as refused:
        buy(user, bundle, gb, txn="t3")  # GBP 3.99 more would make 11.974

    assert refused.value.code == "daily_limit_reached"
    assert refused.value.message == (
        "This purchase would pass your daily spending limit of £10.00 in GB; "
        "£2.01 left."
    )
    assert nothing_written(2, 2)
    SpendingLimit.objects.filter(region=gb).update(
        daily_limit=Money("12", "GBP"), monthly_limit=Money("100", "GBP")
    )
    assert buy(user, bundle, gb, txn="t4").created


def test_spending_that_cannot_be_converted_refuses_the_purchase(us_and_gb):
    us, gb = us_and_gb
    bundle = us_and_gb_bundle()
    user = user_create()
    buy(user, bundle, us, txn="t1")
    services.home_region_set(user=user, region=gb, actor=None, reason="Moved.")

    with pytest.raises(services.PurchaseRefused) as refused:
        buy(user, bundle, gb, txn="t2")

    assert (refused.value.code, refused.value.status_code) == (
        "spending_not_comparable",
        403,
    )
    assert "no exchange rate" in refused.value.message
    assert nothing_written(1, 1)


def test_support_sets_a_home_region_with_a_reason_and_the_audit_keeps_it(
    client, us_and_gb
):
    us, gb = us_and_gb
    user = user_create()
    buy(user, us_and_gb_bundle(), us, txn="t1")
    support = staff_create("Support")
    client.force_login(support)

    response = client.post(
        "/admin/wallets/homeregion/set/",
        {"user": user.username, "region": gb.id, "reason": "Ticket 42: moved to UK."},
    )

    assert response.status_code == 302
    home = HomeRegion.objects.get(user=user)
    assert (home.region, home.source, home.set_by, home.reason) == (
        gb,
        HomeRegion.Source.SUPPORT,
        support,
        "Ticket 42: moved to UK.",
    )
    change = AuditRecord.objects.filter(
        model="wallets.HomeRegion", operation="update"
    ).get()
    assert change.actor == support
    assert (change.before["region_id"], change.after["region_id"]) == (us.id, gb.id)
    assert change.after["reason"] == "Ticket 42: moved to UK."
    with pytest.raises(services.PurchaseRefused, match="Your home region is GB"):
        buy(user, us_and_gb_bundle(), us, txn="t2")


@pytest.mark.parametrize(
    ("who", "changes", "field", "status", "message"),
    [
        ("support", {"reason": "  "}, "reason", 400, "Say why"),
        ("support", {"region": "US"}, "region", 400, "already US"),
        ("support", {"region": "XX"}, "region", 400, "XX is not an active region"),
        ("support", {"user": "self"}, "user", 400, "Nobody sets their own"),
        ("Catalog editors", {}, None, 403, "Only support"),
        ("Finance", {}, None, 403, "Only support"),
    ],
)
def test_setting_a_home_region_is_refused_and_records_nothing(
    us_and_gb, who, changes, field, status, message
):
    us, gb = us_and_gb
    region_create("XX", is_active=False)
    user = user_create()
    buy(user, us_and_gb_bundle(), us, txn="t1")
    actor = staff_create("Support" if who == "support" else who)
    arguments = {"user": user, "region": gb, "actor": actor, "reason": "Moved."}
    if "region" in changes:
        arguments["region"] = Region.objects.get(code=changes["region"])
    if changes.get("user") == "self":
        arguments["user"] = actor
    if "reason" in changes:
        arguments["reason"] = changes["reason"]
    audited = AuditRecord.objects.count()

    with pytest.raises(ServiceError, match=message) as refused:
        services.home_region_set(**arguments)

    assert (refused.value.field, refused.value.status_code) == (field, status)
    assert HomeRegion.objects.get(user=user).region == us
    assert not HomeRegion.objects.filter(user=actor).exists()
    assert AuditRecord.objects.count() == audited


def test_the_admin_form_shows_a_refusal_beside_its_field(client, us_and_gb):
    us, gb = us_and_gb
    user = user_create()
    buy(user, us_and_gb_bundle(), us, txn="t1")
    client.force_login(staff_create("Support"))

    for data, field, message in (
        ({"user": user.username, "region": us.id, "reason": "x"}, "region", "already"),
        ({"user": "nobody", "region": gb.id, "reason": "x"}, "user", "No user"),
        ({"user": user.username, "region": gb.id, "reason": ""}, "reason", "required"),
    ):
        response = client.post("/admin/wallets/homeregion/set/", data)
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == [field]
        assert message in errors[field][0]
    assert HomeRegion.objects.get(user=user).region == us


def test_support_sees_the_home_region_on_the_wallet_and_a_link_to_change_it(
    client, us_and_gb
):
    us, _ = us_and_gb
    user = user_create()
    buy(user, us_and_gb_bundle(), us, txn="t1")
    client.force_login(staff_create("Support"))

    page = client.get(f"/admin/wallets/wallet/{user.id}/change/").content.decode()
    changelist = client.get("/admin/wallets/wallet/").content.decode()
    set_page = client.get(f"/admin/wallets/homeregion/set/?user={user.username}")

    assert "US (Region US) · Region named by the first purchase" in page
    assert f"/admin/wallets/homeregion/set/?user={user.username}" in page
    assert '<td class="field-home">US</td>' in changelist
    assert set_page.context["form"]["user"].value() == user.username
    assert "Region named by the first purchase" in set_page.content.decode()


def test_users_who_bought_before_home_regions_get_their_latest_purchases_region(
    us_and_gb,
):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("wallets.migrations.0009_home_regions")
    us, gb = us_and_gb
    rate_set("GBP", "0.8")
    bundle = us_and_gb_bundle()
    mover, stayer, newcomer = user_create(), user_create(), user_create()
    buy(mover, bundle, us, txn="m1")
    services.home_region_set(user=mover, region=gb, actor=None, reason="Moved.")
    buy(mover, bundle, gb, txn="m2")
    buy(stayer, bundle, us, txn="s1")
    HomeRegion.objects.all().delete()

    migration.home_regions_from_purchases(apps, None)

    homes = {home.user: home for home in HomeRegion.objects.all()}
    assert {user: home.region for user, home in homes.items()} == {
        mover: gb,
        stayer: us,
    }
    assert homes[mover].source == HomeRegion.Source.PLATFORM
    assert newcomer not in homes
