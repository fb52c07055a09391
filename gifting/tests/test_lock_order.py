"""A gift send locks a creator's rows in the order every other writer does."""

import threading
import time

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction

from gifting import services
from gifting.models import CreatorProfile, GiftSend
from wallets.models import AccountKind, LedgerAccount

from .factories import funded_sender, rich_creator, rose

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="row locks of concurrent transactions (set DATABASE_URL)",
    ),
]


def test_a_gift_waiting_for_the_creator_s_profile_holds_nothing_of_their_account():
    """A payout request locks the creator's profile, then their account. A gift send
    must take the profile first too: had it locked the account first (its posting's
    foreign keys) and then waited for the profile, the two would deadlock, as they
    did in the soak."""
    sender, creator, gift = funded_sender(100), rich_creator(), rose(coin_price=2)
    account = LedgerAccount.objects.get(owner=creator.user, kind=AccountKind.DIAMONDS)
    result = {}

    def send():
        try:
            result["send"] = services.gift_send(
                sender=sender,
                creator=creator,
                gift=gift,
                quantity=1,
                placement="live",
                stream_id="s",
                region=None,
                idempotency_key="in-order",
            )
        finally:
            connections.close_all()

    with transaction.atomic(), connection.cursor() as cursor:
        # As payout_request does: the profile first.
        CreatorProfile.objects.select_for_update().get(id=creator.id)
        thread = threading.Thread(target=send)
        thread.start()
        waited = False
        for _ in range(200):
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone():
                waited = True
                break
            time.sleep(0.05)
        assert waited, "the gift send never waited for the creator's profile"
        # Then the account: free, since the waiting gift has locked none of it.
        try:
            cursor.execute(
                "SELECT id FROM wallets_ledgeraccount WHERE id = %s FOR UPDATE NOWAIT",
                [account.id],
            )
        except OperationalError:
            pytest.fail("the waiting gift send holds a lock on the creator's account")
    thread.join(20)

    assert result["send"].created
    assert GiftSend.objects.filter(idempotency_key="in-order").exists()
