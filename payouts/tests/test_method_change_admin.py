"""The admin side of four eyes on payout destinations."""

import pytest

from accounts.roles import FINANCE
from gifting.models import CreatorProfile
from gifting.tests.factories import rich_creator
from payouts.models import PayoutMethodChange
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db
CHANGES = "/admin/payouts/payoutmethodchange/"
IBAN = "DE89370400440532013000"


def test_finance_cannot_retype_a_creators_owner_or_destination_on_its_page(client):
    creator = rich_creator(paypal_email="mia@example.com")
    owner = creator.user
    insider = staff_create(FINANCE)
    client.force_login(insider)
    page = client.get(f"/admin/gifting/creatorprofile/{creator.id}/change/")

    response = client.post(
        f"/admin/gifting/creatorprofile/{creator.id}/change/",
        {
            "user": insider.id,
            "display_name": "Mia",
            "follower_count": 5000,
            "verification": "verified",
            "gifts_enabled": "on",
            "payout_method": "paypal",
            "paypal_email": "insider@example.com",
            "level_changes-TOTAL_FORMS": "0",
            "level_changes-INITIAL_FORMS": "0",
        },
    )

    assert page.status_code == 200
    assert 'name="paypal_email"' not in page.content.decode()
    assert 'name="user"' not in page.content.decode()
    assert response.status_code == 302
    creator = CreatorProfile.objects.get(id=creator.id)
    assert (creator.user_id, creator.paypal_email, creator.display_name) == (
        owner.id,
        "mia@example.com",
        "Mia",
    )
    assert creator.payout_method_changed_at is None


def test_finance_asks_in_the_admin_and_another_finance_user_confirms(client):
    creator = rich_creator(paypal_email="mia@example.com")
    maker, checker = staff_create(FINANCE), staff_create(FINANCE)
    client.force_login(maker)

    bad = client.post(
        f"{CHANGES}add/",
        {"creator": creator.id, "payout_method": "bank", "bank_iban": "DE00"},
    )
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors.keys() >= {
        "bank_iban",
        "bank_account_holder",
        "bank_bic",
    }
    assert not PayoutMethodChange.objects.exists()

    asked = client.post(
        f"{CHANGES}add/",
        {
            "creator": creator.id,
            "payout_method": "bank",
            "bank_account_holder": "Mia Muster",
            "bank_iban": "DE89 3704 0044 0532 0130 00",
            "bank_bic": "COBADEFFXXX",
            "reason": "Creator called support",
        },
    )
    assert asked.status_code == 302
    change = PayoutMethodChange.objects.get()
    assert (change.requested_by, change.bank_iban) == (maker, IBAN)

    own = client.post(
        CHANGES, {"action": "confirm", "_selected_action": [change.id]}, follow=True
    )
    assert "Nobody confirms a method change they asked for." in own.content.decode()
    assert CreatorProfile.objects.get(id=creator.id).bank_iban == ""

    client.force_login(checker)
    done = client.post(
        CHANGES, {"action": "confirm", "_selected_action": [change.id]}, follow=True
    )
    assert "Confirmed 1 change(s)." in done.content.decode()
    creator = CreatorProfile.objects.get(id=creator.id)
    assert (creator.payout_method, creator.bank_iban) == ("bank", IBAN)
    assert creator.payout_method_changed_at is not None


def test_finance_rejects_with_a_reason(client):
    creator = rich_creator(paypal_email="mia@example.com")
    client.force_login(staff_create(FINANCE))
    asked = PayoutMethodChange.objects.create(
        creator=creator,
        creator_user=creator.user,
        payout_method="paypal",
        paypal_email="other@example.com",
        requested_by=creator.user,
    )

    form = client.post(CHANGES, {"action": "refuse", "_selected_action": [asked.id]})
    done = client.post(
        CHANGES,
        {
            "action": "refuse",
            "_selected_action": [asked.id],
            "apply": "1",
            "reason": "Not the creator's name",
        },
        follow=True,
    )

    assert form.status_code == 200 and "reason" in form.content.decode()
    assert "Rejected 1 change(s)." in done.content.decode()
    asked.refresh_from_db()
    assert (asked.status, asked.decision_note) == ("rejected", "Not the creator's name")
    assert CreatorProfile.objects.get(id=creator.id).paypal_email == "mia@example.com"


def test_a_plain_user_or_support_cannot_open_the_change_queue(client):
    client.force_login(user_create(is_staff=True))
    assert client.get(CHANGES).status_code == 403
