"""A payout queue as finance meets it on a working day, for the browser tests (and a
local look: `manage.py shell -c "from payouts.tests.scenes import queue_scene; ..."`).

Real services make every row: gifts earn the diamonds, creators ask for payouts,
finance approves, the sandbox provider pays or fails.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import User
from accounts.roles import FINANCE, SUPPORT
from catalog.models import Gift
from gifting import services as gifting_services
from gifting.models import CreatorProfile
from gifting.tests.factories import funded_sender, rich_creator, rose
from payouts import services
from payouts.models import Payout
from wallets.models import DIAMOND_SCALE
from wallets.tests.factories import user_create


def staff_user(username: str, role: str = FINANCE) -> User:
    """A staff member of `role` who signs in with `pw-<username>`."""
    user = user_create(username=username, is_staff=True)
    user.set_password("pw-" + username)
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def _veteran(creator: CreatorProfile, days: int = 400) -> CreatorProfile:
    """A creator whose account is old enough not to be flagged as new."""
    User.objects.filter(id=creator.user_id).update(
        date_joined=timezone.now() - datetime.timedelta(days=days)
    )
    return CreatorProfile.objects.select_related("user").get(id=creator.id)


def _ask(creator, diamonds, key: str) -> Payout:
    return services.payout_request(
        creator=creator,
        diamond_units=int(diamonds * DIAMOND_SCALE),
        idempotency_key=key,
    ).payout


@dataclass
class QueueScene:
    alice: User
    bob: User
    support: User
    # Large, three risk flags, a method changed two days ago: needs two approvals.
    flagged: Payout
    # Small, from a creator of long standing: no flag.
    plain: Payout
    # Approved first by alice: waits for a second finance user.
    half_approved: Payout
    # The provider could not pay it: finance retries or returns it.
    failed: Payout
    # Its creator was paid once and refused once before.
    regular: Payout


def queue_scene() -> QueueScene:
    alice, bob = staff_user("alice"), staff_user("bob")
    support = staff_user("sam", SUPPORT)

    star = rich_creator(
        diamonds=400_000,
        display_name="Mia Moonlight — official late-night karaoke streams",
        paypal_email="mia.moonlight.karaoke@example.com",
    )
    # One generous fan this week: an earnings spike from one sender.
    fan = funded_sender(coins=5_000)
    gift = Gift.objects.filter(slug="scene-lion").first() or rose(
        slug="scene-lion", name="Lion Dance", coin_price=2_000
    )
    gifting_services.gift_send(
        sender=fan,
        creator=star,
        gift=gift,
        quantity=2,
        placement="live",
        stream_id="karaoke-night",
        region=None,
        idempotency_key="scene-fan",
    )
    CreatorProfile.objects.filter(id=star.id).update(
        payout_method_changed_at=timezone.now() - datetime.timedelta(days=2)
    )
    star.refresh_from_db()
    flagged = _ask(star, 300_000.5, "scene-flagged")

    plain = _ask(_veteran(rich_creator(display_name="Noor")), 20_000, "scene-plain")

    half = _ask(
        _veteran(rich_creator(diamonds=300_000, display_name="Kai Rivers")),
        250_000,
        "scene-half",
    )
    services.payout_approve(payout=half, actor=alice)

    failing = _veteran(
        rich_creator(display_name="Ola", paypal_email="ola+fail@example.com")
    )
    failed = _ask(failing, 30_000, "scene-failed")
    services.payout_approve(payout=failed, actor=bob)
    services.payouts_send(payout_ids=[failed.id])

    regular = _veteran(rich_creator(diamonds=200_000, display_name="Lena Park"))
    paid = _ask(regular, 30_000, "scene-paid")
    services.payout_approve(payout=paid, actor=alice)
    services.payouts_send(payout_ids=[paid.id])
    refused = _ask(regular, 25_000, "scene-refused")
    services.payout_reject(
        payout=refused, actor=bob, reason="The PayPal account is not in your name."
    )
    current = _ask(regular, 40_000.25, "scene-regular")

    def fresh(payout):
        return Payout.objects.get(id=payout.id)

    return QueueScene(
        alice=alice,
        bob=bob,
        support=support,
        flagged=fresh(flagged),
        plain=fresh(plain),
        half_approved=fresh(half),
        failed=fresh(failed),
        regular=fresh(current),
    )
