"""Payout destinations are whole for finance and superusers, masked for other staff."""

import pytest

from accounts.roles import FINANCE, SUPPORT
from gifting.tests.factories import rich_creator
from payouts import selectors, services
from wallets.models import DIAMOND_SCALE
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db
IBAN = "DE89370400440532013000"


def test_destination_masked():
    assert selectors.destination_masked("jane.doe@example.com") == "j***@example.com"
    assert selectors.destination_masked(IBAN) == "DE89 **** **** 3000"
    assert selectors.destination_masked("") == "—"


def pages(client, user):
    creator = rich_creator(diamonds=30_000, paypal_email="jane.doe@example.com")
    payout = services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="m"
    ).payout
    services.payout_method_change_request(
        creator=creator,
        actor=creator.user,
        payout_method="bank",
        bank_account_holder="Jane Doe",
        bank_iban=IBAN,
        bank_bic="COBADEFFXXX",
    )
    client.force_login(user)
    old = creator.history.earliest("history_date")
    return [
        client.get(f"/admin/gifting/creatorprofile/{creator.id}/change/"),
        client.get(f"/admin/payouts/payout/{payout.id}/change/"),
        client.get(f"/admin/gifting/creatorprofile/{creator.id}/history/"),
        client.get(
            f"/admin/gifting/creatorprofile/{creator.id}/history/{old.history_id}/"
        ),
    ]


def test_support_sees_destinations_masked(client):
    for page in pages(client, staff_create(SUPPORT)):
        assert page.status_code == 200
        html = page.content.decode()
        assert "jane.doe@example.com" not in html
        assert IBAN not in html
    creator_page, payout_page, *_ = pages(client, staff_create(SUPPORT))
    assert "j***@example.com" in creator_page.content.decode()
    assert "DE89 **** **** 3000" in creator_page.content.decode()
    assert "j***@example.com" in payout_page.content.decode()


@pytest.mark.parametrize("who", ["finance", "superuser"])
def test_finance_and_operators_read_them_whole(client, who):
    user = (
        staff_create(FINANCE)
        if who == "finance"
        else user_create(is_staff=True, is_superuser=True)
    )
    creator_page, payout_page, *_ = pages(client, user)
    assert "jane.doe@example.com" in creator_page.content.decode()
    assert IBAN in creator_page.content.decode()
    assert "jane.doe@example.com" in payout_page.content.decode()
