import pytest
from django.db.models import Q

from gifting.tests.factories import rich_creator
from payouts import services, states
from payouts.models import Payout, PayoutEvent
from payouts.providers import PayoutResult
from payouts.services.transitions import Move, transitions_record
from wallets.models import DIAMOND_SCALE

pytestmark = pytest.mark.django_db
Status = Payout.Status


def requested():
    return services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="k",
    ).payout


def test_open_states_are_those_an_action_still_moves_on():
    assert states.OPEN == (
        Status.REQUESTED,
        Status.AWAITING_SECOND_APPROVAL,
        Status.APPROVED,
        Status.PROCESSING,
        Status.FAILED,
    )
    (constraint,) = [
        c
        for c in Payout._meta.constraints
        if c.name == "payouts_payout_one_open_per_creator"
    ]
    assert constraint.condition == Q(
        status__in=["requested", "awaiting_second", "approved", "processing", "failed"]
    )


def test_a_move_outside_the_table_is_refused_and_writes_nothing():
    payout = requested()

    with pytest.raises(
        services.InvalidTransition, match="requested cannot be recorded"
    ):
        transitions_record("record", [Move(payout, to=Status.PAID)])

    payout.refresh_from_db()
    assert payout.status == Status.REQUESTED
    assert PayoutEvent.objects.filter(payout=payout).count() == 1


def test_a_result_for_a_payout_not_processing_records_nothing():
    payout = requested()
    result = PayoutResult(reference=payout.reference, paid=True, provider_id="X")

    assert services.payout_results_record(results=[result]) == 0

    payout.refresh_from_db()
    assert (payout.status, payout.provider_id) == (Status.REQUESTED, "")
