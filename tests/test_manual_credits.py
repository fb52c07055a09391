"""Issue 12's reproductions: one finance user minting payable diamonds by hand.

Both run through the screens people use: finance's adjustment form and approval
list, the creator's payout request in the API, the payout queue and the provider.
"""

import pytest
from django.urls import reverse

from accounts.roles import FINANCE
from payouts import services as payout_services
from payouts.models import CreatorProfile, Payout
from payouts.tests.factories import creator_create
from wallets.models import DIAMOND_SCALE, BalanceAdjustment, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import staff_create

pytestmark = pytest.mark.django_db
ADJUST = reverse("admin:wallets_balanceadjustment_adjust")
LIST = reverse("admin:wallets_balanceadjustment_changelist")


def credit_form(user, diamonds: str, key: str = "credit-1") -> dict:
    return {
        "user": str(user.id),
        "account_kind": "diamonds",
        "amount": diamonds,
        "reason": "Stream outage compensation",
        "idempotency_key": key,
    }


def confirmed(client, form: dict):
    """Fill the form, read the confirmation, confirm: as finance does."""
    preview = client.post(ADJUST, form)
    assert preview.status_code == 200, preview.content
    assert preview.context["preview"] is not None
    return client.post(ADJUST, {**form, "confirm": "1"})


def test_a_finance_user_who_is_a_creator_cannot_credit_themselves(client):
    finance_creator = staff_create(FINANCE)
    creator_create(user=finance_creator)
    client.force_login(finance_creator)

    # 30,000 diamonds: the 300,000,000 units of the report.
    form = credit_form(finance_creator, "30000")
    refused = client.post(ADJUST, form)
    confirm = client.post(ADJUST, {**form, "confirm": "1"})

    for response in (refused, confirm):
        assert response.status_code == 200
        assert "own account" in str(response.context["form"].errors["user"])
    assert not BalanceAdjustment.objects.exists()
    assert wallet_balances(user=finance_creator).diamonds == 0
    assert not Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).exists()


def test_finance_alone_cannot_credit_a_creator_and_get_the_credit_paid(
    client, api_client
):
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    creator = creator_create(
        verification=CreatorProfile.Verification.VERIFIED,
        payout_method=CreatorProfile.PayoutMethod.PAYPAL,
        paypal_email="creator@example.com",
    )
    client.force_login(alice)

    # Alice credits 40,000 diamonds: a request, nothing moves.
    done = confirmed(client, credit_form(creator.user, "40000"))
    assert done.status_code == 302
    credit = BalanceAdjustment.objects.get()
    assert (credit.status, credit.amount, credit.transfer) == (
        BalanceAdjustment.Status.REQUESTED,
        40_000 * DIAMOND_SCALE,
        None,
    )
    assert wallet_balances(user=creator.user).diamonds == 0

    # She cannot approve it herself; so the creator has nothing to cash out.
    client.post(LIST, {"action": "approve", "_selected_action": [credit.id]})
    credit.refresh_from_db()
    assert credit.status == BalanceAdjustment.Status.REQUESTED
    api_client.force_authenticate(creator.user)
    asked = api_client.post(
        "/api/v1/payouts/", {"all": True}, format="json", HTTP_IDEMPOTENCY_KEY="p0"
    )
    assert asked.status_code == 400
    assert not Payout.objects.exists()

    # Bob approves the credit: now the creator asks for USD 197.75 ...
    client.force_login(bob)
    client.post(LIST, {"action": "approve", "_selected_action": [credit.id]})
    credit.refresh_from_db()
    assert (credit.status, credit.decided_by, credit.balance_after) == (
        BalanceAdjustment.Status.APPROVED,
        bob,
        40_000 * DIAMOND_SCALE,
    )
    asked = api_client.post(
        "/api/v1/payouts/", {"all": True}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
    )
    assert asked.status_code == 201
    assert asked.json()["payout"]["net_amount"] == "197.75"

    # ... and Alice alone does not get it paid: manual credits need four eyes.
    payout = Payout.objects.get()
    assert payout.needs_second_approval
    payout = payout_services.payout_approve(payout=payout, actor=alice)
    assert payout.status == Payout.Status.AWAITING_SECOND_APPROVAL
    with pytest.raises(payout_services.NotAllowed):
        payout_services.payout_approve(payout=payout, actor=alice)
    assert payout_services.payouts_send(payout_ids=[payout.id]) == 0
    payout.refresh_from_db()
    assert payout.status == Payout.Status.AWAITING_SECOND_APPROVAL
    assert ledger_reconcile().is_clean
