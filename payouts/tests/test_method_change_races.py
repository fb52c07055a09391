"""Racing decisions on one payout method change apply it once (PostgreSQL)."""

from collections import Counter

import pytest
from django.conf import settings

from accounts.roles import FINANCE
from core.errors import ServiceError
from gifting.models import CreatorProfile
from gifting.tests.factories import rich_creator
from payouts import services
from payouts.models import PayoutMethodChange
from wallets.tests.factories import staff_create
from wallets.tests.test_concurrency import run_in_threads

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]
THREADS = 8


def test_finance_users_confirming_and_rejecting_at_once_decide_once():
    creator = rich_creator(paypal_email="old@example.com")
    change = services.payout_method_change_request(
        creator=creator,
        actor=creator.user,
        payout_method="paypal",
        paypal_email="new@example.com",
    )
    checkers = [staff_create(FINANCE) for _ in range(THREADS)]

    def work(thread):
        try:
            if thread % 2:
                services.payout_method_change_reject(
                    change=change, actor=checkers[thread], reason="race"
                )
                return "rejected"
            services.payout_method_change_confirm(change=change, actor=checkers[thread])
            return "confirmed"
        except ServiceError:
            return "refused"

    outcomes = Counter(run_in_threads(THREADS, work))

    assert outcomes["refused"] == THREADS - 1
    change.refresh_from_db()
    email = CreatorProfile.objects.get(id=creator.id).paypal_email
    if outcomes["confirmed"]:
        assert change.status == PayoutMethodChange.Status.CONFIRMED
        assert email == "new@example.com"
    else:
        assert change.status == PayoutMethodChange.Status.REJECTED
        assert email == "old@example.com"


def test_requests_racing_leave_one_pending():
    creator = rich_creator()

    def work(thread):
        services.payout_method_change_request(
            creator=creator,
            actor=creator.user,
            payout_method="paypal",
            paypal_email=f"n{thread}@example.com",
        )

    run_in_threads(THREADS, work)

    statuses = Counter(
        PayoutMethodChange.objects.filter(creator=creator).values_list(
            "status", flat=True
        )
    )
    assert statuses == {"requested": 1, "superseded": THREADS - 1}
