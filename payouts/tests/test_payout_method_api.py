"""A creator manages their payout method through the API; finance confirms."""

import pytest

from accounts.roles import FINANCE
from gifting.models import CreatorProfile
from gifting.tests.factories import creator_create
from payouts import services
from payouts.models import PayoutMethodChange
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/creator/payout-method/"
IBAN = "DE89370400440532013000"


def test_a_new_creator_asks_for_paypal_and_cashes_out_after_confirmation(api_client):
    creator = creator_create(verification=CreatorProfile.Verification.VERIFIED)
    api_client.force_authenticate(creator.user)
    assert api_client.get(URL).json()["payout_method"] == ""

    asked = api_client.post(
        URL,
        {"payout_method": "paypal", "paypal_email": "mia@example.com"},
        format="json",
    )

    assert asked.status_code == 201
    body = asked.json()
    assert body["payout_method"] == ""
    assert body["pending"]["destination"] == "m***@example.com"
    assert body["pending"]["status"] == "requested"
    assert body["cooloff_days"] == 5
    services.payout_method_change_confirm(
        change=PayoutMethodChange.objects.get(creator=creator),
        actor=staff_create(FINANCE),
    )
    now = api_client.get(URL).json()
    assert (now["payout_method"], now["destination"], now["pending"]) == (
        "paypal",
        "m***@example.com",
        None,
    )
    assert now["cooloff_ends"] > now["changed_at"]


def test_a_bank_account_is_masked_in_the_answer(api_client):
    creator = creator_create()
    api_client.force_authenticate(creator.user)
    response = api_client.post(
        URL,
        {
            "payout_method": "bank",
            "bank_account_holder": "Mia Muster",
            "bank_iban": "DE89 3704 0044 0532 0130 00",
            "bank_bic": "COBADEFFXXX",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["pending"]["destination"] == "DE89 **** **** 3000"
    assert PayoutMethodChange.objects.get().bank_iban == IBAN


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "payout_method"),
        ({"payout_method": "cash"}, "payout_method"),
        ({"payout_method": "paypal"}, "paypal_email"),
        ({"payout_method": "paypal", "paypal_email": "nope"}, "paypal_email"),
        ({"payout_method": "paypal", "paypal_email": ["a@b.co"]}, "paypal_email"),
        (
            {
                "payout_method": "bank",
                "bank_account_holder": "M",
                "bank_iban": "DE00370400440532013000",
                "bank_bic": "COBADEFF",
            },
            "bank_iban",
        ),
        (
            {"payout_method": "bank", "bank_iban": IBAN, "bank_bic": "COBADEFF"},
            "bank_account_holder",
        ),
        (
            {
                "payout_method": "bank",
                "bank_account_holder": ";",
                "bank_iban": "_\u00f1]\u0096\u00fb`",
                "bank_bic": "COBADEFF",
            },
            "bank_iban",
        ),
        (
            {
                "payout_method": "bank",
                "bank_account_holder": "M",
                "bank_iban": IBAN,
                "bank_bic": "x" * 12,
            },
            "bank_bic",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_records_nothing(
    api_client, body, field
):
    creator = creator_create()
    api_client.force_authenticate(creator.user)

    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not PayoutMethodChange.objects.exists()


def test_not_a_creator_is_refused(api_client):
    api_client.force_authenticate(user_create())
    assert api_client.get(URL).status_code == 403
    response = api_client.post(
        URL, {"payout_method": "paypal", "paypal_email": "x@example.com"}, format="json"
    )
    assert response.status_code == 403
    assert not PayoutMethodChange.objects.exists()
    api_client.force_authenticate(None)
    assert api_client.get(URL).status_code in (401, 403)
