"""Staff read every figure the same way (core.display): coins and diamonds with
thousands separated, diamonds with the decimals they have, money with its currency,
and each system account's balance as the ledger counts it, not its stored 0."""

import pytest
from django.contrib.admin.sites import site
from django.utils import timezone
from djmoney.money import Money

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from catalog import services as catalog_services
from catalog.tests.factories import rate_set
from core import display
from gifting import services as gifting_services
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services as payout_services
from wallets.models import (
    DIAMOND_SCALE,
    AccountKind,
    LedgerAccount,
    PendingCredit,
    Purchase,
    Transfer,
)
from wallets.selectors import (
    ledger_accounts_with_balance,
    system_balances,
    wallet_balances,
)
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = pytest.mark.django_db
NBSP = "\u00a0"
LEDGER = "/admin/wallets/ledgeraccount/"


@pytest.fixture
def big_purchase():
    """A million coins and a hundred thousand bonus bought for IDR 78,800."""
    indonesia = region_create("ID", currency="IDR", name="Indonesia")
    bundle = bundle_create(coins=1_000_000, bonus_coins=100_000, price="4.99")
    price_create(bundle, indonesia, "78800")
    buyer = user_create(username="buyer")
    purchase_buy(buyer, bundle, indonesia, key="big")
    return Purchase.objects.get(user=buyer)


@pytest.fixture
def held_payout():
    """250,000 diamonds earned, 22,000 of them held for a payout request."""
    creator = rich_creator(diamonds=250_000)
    return payout_services.payout_request(
        creator=creator, diamond_units=22_000 * DIAMOND_SCALE, idempotency_key="held"
    ).payout


@pytest.fixture
def half_diamond():
    """A 1-coin rose at a 50 % share: half a diamond to the creator."""
    sender = funded_sender(coins=10)
    creator = creator_create(display_name="Streamer", user=user_create(username="sj"))
    return gifting_services.gift_send(
        sender=sender,
        creator=creator,
        gift=rose(),
        quantity=1,
        placement="live",
        stream_id="s",
        region=None,
        idempotency_key="half",
    ).gift_send


def content(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_payout_hold_shows_the_diamonds_it_holds_not_its_stored_zero(
    client, held_payout
):
    hold = LedgerAccount.objects.get(kind=AccountKind.PAYOUT_HOLD)
    client.force_login(staff_create(FINANCE))

    listing = client.get(LEDGER, {"kind__exact": AccountKind.PAYOUT_HOLD})
    page = content(client, f"{LEDGER}{hold.pk}/change/")

    assert hold.balance == 0  # system accounts keep no balance of their own
    [row] = listing.context["cl"].result_list
    assert row.ledger_balance == 22_000 * DIAMOND_SCALE
    assert "22,000 diamonds" in listing.content.decode()
    assert "22,000 diamonds" in page
    assert "sum of its transfers in less its transfers out" in page


def test_a_rejected_payout_gives_the_hold_back_and_the_list_shows_it(
    client, held_payout
):
    finance = staff_create(FINANCE)
    payout_services.payout_reject(payout=held_payout, actor=finance, reason="Test")
    client.force_login(finance)

    listing = client.get(LEDGER, {"kind__exact": AccountKind.PAYOUT_HOLD})

    [row] = listing.context["cl"].result_list
    assert row.ledger_balance == 0
    assert "0 diamonds" in listing.content.decode()


def test_every_ledger_balance_is_what_the_ledger_counts_and_they_sum_to_zero(
    big_purchase, held_payout, half_diamond
):
    """A system account's balance is the sum of its transfers; a user account's
    is its cached balance with its pending credits, as the wallet reads it."""
    accounts = list(ledger_accounts_with_balance().select_related("owner"))
    system = system_balances()

    assert PendingCredit.objects.exists()  # the half diamond waits to be folded
    for account in accounts:
        if account.is_system:
            assert account.ledger_balance == system.get(account.kind, 0)
        else:
            held = wallet_balances(user=account.owner)
            assert (
                account.ledger_balance
                == {
                    AccountKind.PAID_COINS: held.paid_coins,
                    AccountKind.BONUS_COINS: held.bonus_coins,
                    AccountKind.DIAMONDS: held.diamond_units,
                }[account.kind]
            )
    for unit in ("coin", "diamond"):
        assert sum(a.ledger_balance for a in accounts if a.unit == unit) == 0


def test_the_ledger_account_list_reads_in_constant_queries(
    client, django_assert_max_num_queries, held_payout
):
    client.force_login(staff_create(FINANCE))
    with django_assert_max_num_queries(12) as few:
        client.get(LEDGER)
    for n in range(5):
        rich_creator(diamonds=30_000 + n)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(LEDGER)


def test_wallets_and_transfers_read_in_separated_coins_and_diamonds(
    client, big_purchase, held_payout
):
    client.force_login(staff_create(SUPPORT))
    buyer, creator = big_purchase.user, held_payout.creator.user

    wallets = content(client, "/admin/wallets/wallet/", q="buyer")
    wallet = content(client, f"/admin/wallets/wallet/{buyer.pk}/change/")
    creator_wallet = content(client, f"/admin/wallets/wallet/{creator.pk}/change/")
    transfers = content(client, "/admin/wallets/transfer/")
    earning = Transfer.objects.get(reference=f"test-earnings:{held_payout.creator_id}")
    transfer = content(client, f"/admin/wallets/transfer/{earning.pk}/change/")

    assert "1,000,000" in wallets and "100,000" in wallets
    assert "1,100,000 coins (1,000,000 paid, 100,000 bonus)" in wallet
    assert "+1,000,000 coins" in wallet
    assert f"IDR{NBSP}78,800" in wallet
    assert "228,000 diamonds" in creator_wallet  # 250,000 less 22,000 held
    assert "−22,000" not in creator_wallet and "-22,000 diamonds" in creator_wallet
    assert "1,000,000 coins" in transfers and "250,000 diamonds" in transfers
    assert "250,000 diamonds" in transfer
    for raw in ("2500000000", "1000000 ", "220000000"):
        assert raw not in transfers + transfer + wallet + creator_wallet


def test_purchases_read_in_their_currency_and_separated_coins(client, big_purchase):
    client.force_login(staff_create(FINANCE))

    listing = content(client, "/admin/wallets/purchase/")
    page = content(client, f"/admin/wallets/purchase/{big_purchase.pk}/change/")
    liability = content(client, "/admin/wallets/purchase/liability/")

    assert f"IDR{NBSP}78,800" in listing
    assert "1,000,000 coins + 100,000 bonus" in listing
    assert "1,000,000" in page and "100,000 (100,000 with the bundle" in page
    assert f"IDR{NBSP}78,800" in liability
    assert (
        str(big_purchase)
        == f"Purchase #{big_purchase.pk}: 1,000,000 coins for IDR{NBSP}78,800"
    )


def test_half_a_diamond_reads_as_half_a_diamond(client, half_diamond):
    client.force_login(staff_create(FINANCE))

    sends = client.get("/admin/gifting/giftsend/")
    page = content(client, f"/admin/gifting/giftsend/{half_diamond.pk}/change/")
    creator = content(
        client, f"/admin/gifting/creatorprofile/{half_diamond.creator_id}/change/"
    )

    [row] = sends.context["cl"].result_list
    assert sends.context["cl"].model_admin.creator_diamonds(row) == "0.5"
    assert "1 × Rose" in sends.content.decode()
    assert "0.5" in page and "1 coin each, as stamped" in page
    assert "0.5 diamonds held · 0.5 earned in 30 days · 0.5 in 7 days" in creator


def test_a_creator_page_reads_thousands_separated(client):
    creator = rich_creator(diamonds=5_125, follower_count=1_250_000)
    client.force_login(staff_create(FINANCE))

    listing = content(client, "/admin/gifting/creatorprofile/")
    page = content(client, f"/admin/gifting/creatorprofile/{creator.pk}/change/")

    assert "1,250,000" in listing
    assert "5,125 diamonds held" in page
    assert "5125.0000" not in page and "51250000" not in page


def test_bundles_prices_and_rates_read_as_money_and_rates(client):
    korea = region_create("KR", currency="KRW", name="South Korea")
    us = region_create("US")
    bundle = bundle_create(coins=10_000, bonus_coins=1_000, price="1005")
    price_create(bundle, korea, "6737")
    price_create(bundle, us, "994.70")
    rate = rate_set("KRW", "1350.00000000")
    client.force_login(staff_create(CATALOG_EDITORS))

    bundles = content(client, "/admin/catalog/coinbundle/")
    prices = content(client, "/admin/catalog/bundleprice/")
    rates = content(client, "/admin/exchange/rate/")
    rate_page = content(client, f"/admin/exchange/rate/{rate.pk}/change/")

    assert "$1,005.00" in bundles and "10,000" in bundles and "1,000" in bundles
    assert "₩6,737" in prices and "$994.70" in prices
    assert "10,000 coins + 1,000 bonus" in prices
    assert "1,350" in rates and "1350.00000000" not in rates
    assert "<title>1 USD = 1,350 KRW (staff) | Change rate" in rate_page
    assert "Rate object" not in rate_page


def test_the_repricing_preview_reads_old_and_new_prices_as_money(client):
    korea = region_create("KR", currency="KRW", name="South Korea", price_rule="whole")
    bundle = bundle_create(coins=100, price="0.99")
    price_create(bundle, korea, "1200", source="derived")
    rate_set("KRW", "1350")
    proposal = catalog_services.repricing_proposal_create(bundles=None, actor=None)
    client.force_login(staff_create(CATALOG_EDITORS))

    page = content(client, f"/admin/catalog/repricingproposal/{proposal.pk}/change/")

    assert "₩1,200" in page
    assert "1,350" in page


def test_the_money_dashboard_reads_diamonds_and_money_with_their_units(
    client, held_payout, half_diamond
):
    client.force_login(staff_create(FINANCE))

    page = content(client, "/admin/reports/moneydashboard/")

    # Outstanding: 228,000 with the creator, 22,000 on hold, the half diamond.
    assert "250,000.5" in page
    assert "22,000 of them held for payouts" in page
    assert display.money(Money(held_payout.net_amount, "USD")) in page
    assert "at 0.005 USD a diamond" in page


def test_an_adjustment_reads_in_its_unit_with_a_sign(client, big_purchase):
    from wallets import services as wallet_services

    finance = staff_create(FINANCE)
    wallet_services.balance_adjustment_request(
        user=big_purchase.user,
        account_kind=AccountKind.BONUS_COINS,
        amount=-1_000,
        reason="Granted twice",
        actor=finance,
        idempotency_key="adj",
        now=timezone.now(),
    )
    client.force_login(finance)

    listing = content(client, "/admin/wallets/balanceadjustment/")

    assert "-1,000 bonus coins" in listing
    assert 'title="Granted twice"' in listing


def test_every_admin_list_cell_helper_keeps_the_whole_value_on_hover():
    from core.admin import truncated

    cell = truncated("a" * 80 + "<b>", "8em")
    assert 'title="' + "a" * 80 + '&lt;b&gt;"' in cell
    assert "max-width: 8em" in cell
    assert "<b>" not in cell
    assert site.is_registered(LedgerAccount)
