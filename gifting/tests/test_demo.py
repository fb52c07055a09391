import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from catalog.models import Gift, Region
from gifting import services
from gifting.models import CreatorProfile
from wallets.models import Purchase
from wallets.selectors import wallet_balances

pytestmark = pytest.mark.django_db


def test_the_demo_viewer_can_gift_the_demo_creator_after_the_run_commands(settings):
    settings.DEBUG = True
    for command in ("seed_catalog", "seed_wallets", "seed_demo", "seed_demo_economy"):
        call_command(command, verbosity=0)
    call_command("seed_demo_economy", verbosity=0)

    viewer = User.objects.get(username="viewer")
    creator = CreatorProfile.objects.get(user__username="creator")
    assert Purchase.objects.filter(user=viewer).count() == 1
    coins = wallet_balances(user=viewer).coins
    assert coins == 1000 + 50 + 100  # bundle, its bonus, the 10% welcome bonus
    # Its purchase made the viewer's home region the one the demo's requests name.
    assert viewer.home_region.region.code == "US"

    services.gift_send(
        sender=viewer,
        creator=creator,
        gift=Gift.objects.get(slug="applause"),
        quantity=2,
        placement="live",
        stream_id="demo",
        region=Region.objects.get(code="US"),
        idempotency_key="demo-gift",
    )
    assert wallet_balances(user=viewer).coins == coins - 100


def test_demo_economy_is_refused_in_production_mode(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=0"):
        call_command("seed_demo_economy")
