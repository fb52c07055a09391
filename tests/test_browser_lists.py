"""The changelists staff use all day fit a 1280 x 800 laptop, with the navigation
and filter sidebars open, also when their rows hold long names and large amounts;
at a phone's 390 x 844 the money dashboard fits.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""


import pytest
from django.utils import timezone

from accounts.models import User
from accounts.roles import FINANCE
from audit.context import acting_as
from catalog.tests.factories import gift_create, rate_set
from gifting import services as gifting_services
from gifting.tests.factories import creator_create, rich_creator
from gifting.tests.test_sponsored import campaign_create
from payouts import services as payout_services
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, AccountKind
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

from .conftest import admin_login

LONG_USERNAME = "support-ticket-4711-a-buyer-with-a-remarkably-long-username"
LONG_EMAIL = "a.buyer.with.a.remarkably.long.address@subdomain.example-mail.com"
LONG_CREATOR = "The creator whose display name goes on and on, live tonight"
LONG_GIFT = "Lion Dance Extravaganza (Lunar New Year sponsored edition)"
LONG_STREAM = "stream-2026-12-07-evening-show-with-a-long-identifier"
LONG_TXN = "GPA.3372-4151-8808-14472-a-long-store-transaction"
LONG_LABEL = "command:import_bundle_prices /srv/imports/2026-12-07-prices-v3-final.csv"

# Every changelist staff use daily, and a key column each that must be in view.
LISTS = {
    "audit_records": ("/admin/audit/auditrecord/", "by"),
    "bundle_prices": ("/admin/catalog/bundleprice/", "by_hand"),
    "transfers": ("/admin/wallets/transfer/", "reference"),
    "gifts": ("/admin/catalog/gift/", "sponsored"),
    "ledger_accounts": ("/admin/wallets/ledgeraccount/", "balance_shown"),
    "wallets": ("/admin/wallets/wallet/", "diamonds"),
    "purchases": ("/admin/wallets/purchase/", "status"),
    "gift_sends": ("/admin/gifting/giftsend/", "creator_diamonds"),
    "creators": ("/admin/gifting/creatorprofile/", "suspended"),
    "coin_bundles": ("/admin/catalog/coinbundle/", "is_active"),
    "exchange_rates": ("/admin/exchange/rate/", "backend"),
    "adjustments": ("/admin/wallets/balanceadjustment/", "short_reason"),
    "sponsor_campaigns": ("/admin/gifting/sponsorcampaign/", "budget_left_shown"),
}
MEASURE = """() => {
    const doc = document.documentElement;
    const table = document.querySelector('#result_list');
    const results = table.closest('.results');
    return {
        page: doc.scrollWidth - doc.clientWidth,
        results: results.scrollWidth - results.clientWidth,
        tableRight: table.getBoundingClientRect().right,
        viewport: doc.clientWidth,
        rows: table.tBodies[0].rows.length,
    };
}"""
KEY_RIGHT = """(name) => {
    const th = document.querySelector(`#result_list thead th.column-${name}`);
    return th ? th.getBoundingClientRect().right : null;
}"""


@pytest.fixture
def operator_page(live_server, browser_page):
    """An operator signed in, with the long rows in every list."""
    long_rows()
    User.objects.create_superuser(
        username="operator", password="pw-operator", birth_date="1980-01-01"
    )
    admin_login(browser_page, live_server.url, "operator", "pw-operator")
    return browser_page


def long_rows():
    """Rows with the longest names and largest amounts staff meet, in every list."""
    with acting_as(label=LONG_LABEL):
        indonesia = region_create("ID", currency="IDR", name="Indonesia")
        bundle = bundle_create(
            coins=1_000_000,
            bonus_coins=100_000,
            price="9999.99",
            sku="coins_1000000_lunar_new_year_with_bonus",
        )
        price_create(bundle, indonesia, "157800000")
        rate_set("IDR", "15780.12345678")
        gift = gift_create(
            name=LONG_GIFT,
            coin_price=2_000,
            sponsor_name="A sponsor with a long name, Inc.",
            sponsor_starts_at=timezone.now() - timezone.timedelta(days=1),
            sponsor_ends_at=timezone.now() + timezone.timedelta(days=30),
            available_from=timezone.now() - timezone.timedelta(days=1),
            available_until=timezone.now() + timezone.timedelta(days=30),
        )
        rose = gift_create(name="Rose", coin_price=1)
    buyer = user_create(username=LONG_USERNAME, email=LONG_EMAIL)
    purchase_buy(buyer, bundle, indonesia, key="long-purchase", txn=LONG_TXN)
    finance = staff_create(
        FINANCE, username="finance-with-a-long-name-for-the-adjustment-list"
    )
    wallet_services.balance_adjustment_request(
        user=buyer,
        account_kind=AccountKind.BONUS_COINS,
        amount=-1_000,
        reason="Bonus coins granted twice by the campaign of 3 December; "
        "ticket 4711, agreed with the customer on the phone.",
        actor=finance,
        idempotency_key="long-adjustment",
    )
    campaign_create(
        gift,
        subsidy=500,
        cap=10_000_000,
        budget=987_654_321,
        name="Lunar New Year: the brand pays a quarter of every Lion Dance",
        sponsor_name="A sponsor with a long name, Inc.",
    )
    creator = creator_create(
        display_name=LONG_CREATOR,
        user=user_create(username=f"{LONG_USERNAME}-creator", email=LONG_EMAIL[1:]),
    )
    for n, (sent, quantity) in enumerate(((gift, 99), (rose, 1))):
        gifting_services.gift_send(
            sender=buyer,
            creator=creator,
            gift=sent,
            quantity=quantity,
            placement="live",
            stream_id=LONG_STREAM,
            region=None,
            idempotency_key=f"long-gift-{n}",
        )
    rich = rich_creator(
        diamonds=250_000, user=user_create(username=f"{LONG_USERNAME}-rich")
    )
    payout_services.payout_request(
        creator=rich, diamond_units=22_000 * DIAMOND_SCALE, idempotency_key="long-p"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_daily_changelists_fit_a_laptop_with_long_rows(
    live_server, operator_page, shots
):
    page = operator_page
    page.set_viewport_size({"width": 1280, "height": 800})

    too_wide = {}
    for name, (url, key_column) in LISTS.items():
        page.goto(f"{live_server.url}{url}")
        page.screenshot(path=shots / f"list_{name}-1280.png")
        measured = page.evaluate(MEASURE)
        key_right = page.evaluate(KEY_RIGHT, key_column)
        assert measured["rows"] > 0, name
        assert key_right is not None, f"{name}: no column {key_column}"
        if (
            measured["page"] > 0
            or measured["results"] > 0
            or measured["tableRight"] > measured["viewport"]
            or key_right > measured["viewport"]
        ):
            too_wide[name] = (
                f"page {measured['page']}px and table {measured['results']}px "
                f"too wide, {key_column} ends at {key_right:.0f}px"
            )
    assert not too_wide, "\n".join(f"{n}: {why}" for n, why in too_wide.items())

    # A cut cell keeps the whole value on hover.
    page.goto(f"{live_server.url}/admin/wallets/transfer/")
    assert page.locator(f'#result_list [title^="{LONG_USERNAME}"]').count() > 0
    page.goto(f"{live_server.url}/admin/gifting/giftsend/")
    assert page.locator(f'#result_list [title="{LONG_CREATOR}"]').count() > 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_daily_changelists_stay_usable_on_a_phone(live_server, operator_page, shots):
    """At 390 px the list scrolls inside its box; the page itself never does, and
    the first columns (what the row is) are in view."""
    page = operator_page
    page.set_viewport_size({"width": 390, "height": 844})

    for name, (url, _) in LISTS.items():
        page.goto(f"{live_server.url}{url}")
        page.screenshot(path=shots / f"list_{name}-390.png", full_page=True)
        measured = page.evaluate(MEASURE)
        assert measured["page"] <= 0, (name, measured)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_money_dashboard_fits_a_phone(live_server, operator_page, shots):
    page = operator_page

    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/admin/reports/moneydashboard/")
        page.screenshot(path=shots / f"money_dashboard-{width}.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )
        widest = page.evaluate(
            "Math.max(...[...document.querySelectorAll("
            "'#content canvas, #content .card')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert overflow <= 0, (width, overflow)
        assert widest <= width, (width, widest)
        # 22,000 diamonds held for the payout, read from the ledger.
        assert "22,000 of them held for payouts" in page.inner_text("#content")
