"""Region-only gifts go by the sender's home region, not the region the client names."""

import pytest

from catalog.tests.factories import region_create
from gifting.models import GiftSend, StreamGifter
from wallets.models import HomeRegion, Transfer
from wallets.selectors import wallet_balances
from wallets.tests.factories import leg_post, user_create

from .factories import creator_create, funded_sender, rose
from .test_api import post_send

pytestmark = pytest.mark.django_db


def nothing_sent(sender, coins):
    return (
        not GiftSend.objects.exists()
        and not StreamGifter.objects.exists()
        and not Transfer.objects.filter(kind=Transfer.Kind.GIFT).exists()
        and wallet_balances(user=sender).coins == coins
    )


def test_a_us_user_cannot_send_a_japan_only_gift_by_naming_jp(api_client):
    sender = funded_sender(100)  # bought in the US: home region US
    creator = creator_create()
    rose(regions=[region_create("JP", currency="JPY")])
    api_client.force_authenticate(sender)

    named = post_send(api_client, creator, key="jp", region="JP")
    unnamed = post_send(api_client, creator, key="none")

    assert named.status_code == 400
    assert named.json() == {
        "region": ["Your home region is US: gifts are sent from there, not from JP."]
    }
    assert unnamed.status_code == 400
    assert unnamed.json() == {"gift": ["This gift is not offered in US, your region."]}
    assert nothing_sent(sender, 100)


def test_the_home_region_named_is_accepted_and_a_region_only_gift_sent(api_client):
    sender, creator = funded_sender(100), creator_create()
    rose(regions=[region_create("US")])
    api_client.force_authenticate(sender)

    assert post_send(api_client, creator, key="named", region="US").status_code == 201
    assert post_send(api_client, creator, key="unnamed").status_code == 201


def test_without_a_home_region_region_only_gifts_are_refused(api_client):
    """Coins with no purchase (a bonus): the region is not known, and naming one
    does not make it so."""
    sender, creator = user_create(), creator_create()
    bonus_coins_give(sender, 50)
    rose(regions=[region_create("JP", currency="JPY")])
    api_client.force_authenticate(sender)

    for key, named in (("unnamed", {}), ("named", {"region": "JP"})):
        response = post_send(api_client, creator, key=key, **named)
        assert response.status_code == 400
        assert response.json() == {
            "gift": [
                "This gift is offered only in some regions, and yours is not known "
                "yet: your first coin purchase sets it."
            ]
        }
    assert nothing_sent(sender, 50)
    assert not HomeRegion.objects.exists()
    # A gift offered everywhere goes, whatever region is named.
    rose(slug="tulip", name="Tulip")
    assert (
        post_send(api_client, creator, key="t", gift="tulip", region="JP").status_code
        == 201
    )
    assert not HomeRegion.objects.exists()


def bonus_coins_give(user, coins):
    from django.db import transaction

    from wallets import ledger
    from wallets.models import LedgerAccount

    with transaction.atomic():
        leg_post(
            debit=ledger.system_account(LedgerAccount.Kind.BONUS_ISSUANCE),
            credit=ledger.user_account(user, LedgerAccount.Kind.BONUS_COINS),
            amount=coins,
            kind=Transfer.Kind.PURCHASE_BONUS,
            reference=f"test-bonus:{user.id}",
            idempotency_key=f"test-bonus:{user.id}",
        )
