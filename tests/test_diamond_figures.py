"""Issue 13's diamond figures: one unit, one display, one cash rounding.

Diamonds are kept in ten-thousandths (units); every screen and answer shows
diamonds, and every cash value of diamonds rounds down to the cent as a payout's
gross does (docs/payouts.md, "Cash value of diamonds").
"""

from decimal import Decimal

import pytest

from accounts.roles import SUPPORT
from catalog.tests.factories import gift_create
from gifting.tests.factories import creator_create, funded_sender
from payouts.services import payout_gross
from reports.selectors import money_dashboard
from wallets.tests.factories import staff_create
from wallets.units import units_from_diamonds

pytestmark = pytest.mark.django_db
RATE = Decimal("0.005")  # the seeded USD rate


def gift(api_client, sender, creator, *, coins: int, key: str):
    gift_create(slug=f"g{coins}-{key}", coin_price=coins)
    api_client.force_authenticate(sender)
    response = api_client.post(
        "/api/v1/gift-sends/",
        {
            "gift": f"g{coins}-{key}",
            "creator": creator.id,
            "quantity": 1,
            "placement": "live",
            "stream_id": "s-1",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_after_one_10_coin_gift_at_half_share_the_wallet_admin_shows_5_diamonds(
    api_client, client
):
    creator = creator_create()  # level 1: 50 %
    sent = gift(api_client, funded_sender(100), creator, coins=10, key="g1")
    api_client.force_authenticate(creator.user)
    wallet = api_client.get("/api/v1/wallet/").json()
    client.force_login(staff_create(SUPPORT))

    listing = client.get("/admin/wallets/wallet/", {"q": creator.user.username})
    page = client.get(f"/admin/wallets/wallet/{creator.user_id}/change/")

    assert sent["gift_send"]["creator_diamonds"] == "5.0000"
    assert wallet["diamonds"] == "5.0000"
    row = listing.context["cl"].result_list[0]
    assert listing.context["cl"].model_admin.diamonds(row) == "5"
    content = page.content.decode()
    assert "0 coins (0 paid, 0 bonus) · 5 diamonds" in content
    assert "+5 diamonds" in content  # the earning among the last transfers
    assert "50000" not in content


def test_units_read_as_diamonds_in_every_answer(api_client):
    creator = creator_create()
    gift(api_client, funded_sender(100), creator, coins=3, key="g1")  # 1.5 diamonds
    api_client.force_authenticate(creator.user)

    earnings = api_client.get("/api/v1/creator/earnings/").json()

    assert api_client.get("/api/v1/wallet/").json()["diamonds"] == "1.5000"
    assert (earnings["diamonds"], earnings["earned_today"]) == ("1.5000", "1.5000")
    assert earnings["cash_value"] == "0.00"  # 0.0075 rounds down


def test_every_cash_value_of_diamonds_rounds_down_to_the_cent(api_client):
    """Two creators hold 3.5 diamonds each: 0.0175 each, 0.035 together. The
    dashboard's liability is the total's gross rounded down (0.03, not 0.04) and so
    never below what the two payouts' grosses could add up to (0.01 + 0.01)."""
    sender = funded_sender(100)
    creators = [creator_create(), creator_create()]
    for n, creator in enumerate(creators):
        gift(api_client, sender, creator, coins=7, key=f"g{n}")
    values = []
    for creator in creators:
        api_client.force_authenticate(creator.user)
        values.append(api_client.get("/api/v1/creator/earnings/").json()["cash_value"])

    figures = money_dashboard()

    assert figures["diamonds_outstanding"] == Decimal("7.0000")
    assert figures["cash_liability"] == Decimal("0.03")
    assert figures["cash_liability"] == payout_gross(
        diamond_units=units_from_diamonds(Decimal(7)), rate=RATE
    )
    assert values == ["0.01", "0.01"]
    assert figures["cash_liability"] >= sum(Decimal(v) for v in values)
