"""Payout destinations are whole for finance and superusers, masked for other staff."""

import pytest

from accounts.roles import FINANCE, SUPPORT
from core.models import ListExport
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


# No filter on a destination from the address: Django's admin takes a lookup on any
# of a model's own fields, and the row showing or not for a guessed prefix would
# give a masked reader the whole destination, a character at a time.

NAME = "Zephyrine Quill"
PAYOUTS = "/admin/payouts/payout/"
PROFILES = "/admin/gifting/creatorprofile/"
CHANGES = "/admin/payouts/payoutmethodchange/"


@pytest.fixture
def scene():
    creator = rich_creator(
        diamonds=30_000, display_name=NAME, paypal_email="lena.park@example.com"
    )
    payout = services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="q"
    ).payout
    services.payout_method_change_request(
        creator=creator,
        actor=creator.user,
        payout_method="bank",
        bank_account_holder="Lena Park",
        bank_iban=IBAN,
        bank_bic="COBADEFFXXX",
    )
    return payout


def _lookups(prefix_right: bool) -> list[str]:
    mail, iban = ("lena.park@", "DE89") if prefix_right else ("zz@", "GB00")
    holder, bic = ("Lena", "COBA") if prefix_right else ("Nobody", "XXXX")
    return [
        f"{PAYOUTS}?queue=all&destination__startswith={mail}",
        f"{PAYOUTS}?queue=all&destination__istartswith={mail}",
        f"{PAYOUTS}?queue=all&destination={mail}example.com",
        f"{PAYOUTS}?queue=all&creator__paypal_email__startswith={mail}",
        f"{PROFILES}?paypal_email__startswith={mail}",
        f"{PROFILES}?bank_iban__startswith={iban}",
        f"{PROFILES}?payouts__destination__startswith={mail}",
        f"{PROFILES}?method_changes__bank_iban__startswith={iban}",
        f"{CHANGES}?bank_iban__startswith={iban}",
        f"{CHANGES}?bank_account_holder__icontains={holder}",
        f"{CHANGES}?bank_bic__startswith={bic}",
        f"{CHANGES}?creator__paypal_email__startswith={mail}",
    ]


@pytest.mark.parametrize("role", [SUPPORT, FINANCE])
def test_nobody_filters_on_a_destination_from_the_address(client, scene, role):
    client.force_login(staff_create(role))
    for right, wrong in zip(_lookups(True), _lookups(False), strict=True):
        answers = [client.get(right), client.get(wrong)]
        # The same refusal for a right and a wrong guess: nothing to tell apart
        # (support may not open the method changes at all: 403).
        refused = 403 if role == SUPPORT and right.startswith(CHANGES) else 400
        assert [a.status_code for a in answers] == [refused, refused], right
        for answer in answers:
            assert NAME not in answer.content.decode()
            assert scene.reference not in answer.content.decode()


def test_an_export_with_a_destination_filter_is_refused_and_not_on_record(
    client, scene
):
    client.force_login(staff_create(FINANCE))

    response = client.post(
        f"{PAYOUTS}export/?queue=all&destination__startswith=lena.park@",
        {"format": "csv"},
    )

    assert response.status_code == 400
    assert not ListExport.objects.exists()


@pytest.mark.parametrize("role", [SUPPORT, FINANCE])
def test_the_lists_own_filters_and_search_keep_working(client, scene, role):
    client.force_login(staff_create(role))
    shown = [
        f"{PAYOUTS}?queue=all",
        f"{PAYOUTS}?queue=all&status__exact=requested&q=Zephyrine",
        f"{PAYOUTS}?queue=all&currency=USD",
        f"{PROFILES}?verification__exact=verified&q=Zephyrine",
        f"{PROFILES}?suspended__exact=0&level__id__exact={scene.creator.level_id}",
        f"{CHANGES}?status__exact=requested&payout_method__exact=bank&q=Zephyrine",
    ]
    for url in shown:
        if role == SUPPORT and url.startswith(CHANGES):
            assert client.get(url).status_code == 403
            continue
        page = client.get(url)
        assert page.status_code == 200, url
        assert NAME in page.content.decode(), url
    assert (
        NAME
        not in client.get(f"{PAYOUTS}?queue=all&status__exact=paid").content.decode()
    )
