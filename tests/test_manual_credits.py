"""Issue 12's reproductions: one finance user minting payable diamonds by hand.

Both run through the screens people use: finance's adjustment form and approval
list, the creator's payout request in the API, the payout queue and the provider.
"""

import pytest
from django.urls import reverse

from accounts.roles import FINANCE
from gifting.models import CreatorProfile
from gifting.tests.factories import creator_create, rich_creator
from payouts import services as payout_services
from payouts.models import Payout
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
    assert wallet_balances(user=finance_creator).diamond_units == 0
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
    assert wallet_balances(user=creator.user).diamond_units == 0

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


def approved_credit(user, diamonds: int, requester=None, approver=None):
    from wallets import services

    requester = requester or staff_create(FINANCE)
    credit = services.balance_adjustment_request(
        user=user,
        account_kind="diamonds",
        amount=diamonds * DIAMOND_SCALE,
        reason="Outage",
        actor=requester,
        idempotency_key=f"credit-{BalanceAdjustment.objects.count()}",
    )
    return services.balance_adjustment_approve(
        adjustment=credit, actor=approver or staff_create(FINANCE)
    )


def test_the_amount_is_typed_in_diamonds_and_confirmed_before_anything_is_saved(
    client,
):
    alice, creator = staff_create(FINANCE), creator_create()
    approved_credit(creator.user, 2)
    client.force_login(alice)
    form = credit_form(creator.user, "200000")

    preview = client.post(ADJUST, form)
    page = preview.content.decode()
    assert "<strong>+200,000 diamonds</strong>" in page
    assert "<td>2 diamonds</td>" in page  # now
    assert "<strong>200,002 diamonds</strong>" in page  # after, once approved
    assert BalanceAdjustment.objects.count() == 1
    edit = client.post(ADJUST, {**form, "edit": "1"})
    assert edit.context["preview"] is None
    assert edit.context["form"]["amount"].value() == "200000"

    client.post(ADJUST, {**form, "confirm": "1"})
    credit = BalanceAdjustment.objects.get(status=BalanceAdjustment.Status.REQUESTED)
    assert credit.amount == 2_000_000_000  # 200,000 diamonds, not 20


def test_a_debit_is_confirmed_and_applies_at_once(client):
    alice, creator = staff_create(FINANCE), creator_create()
    approved_credit(creator.user, 2)
    client.force_login(alice)
    form = credit_form(creator.user, "-0.5")

    preview = client.post(ADJUST, form)
    assert "Take away now" in preview.content.decode()
    assert wallet_balances(user=creator.user).diamond_units == 20_000
    assert client.post(ADJUST, {**form, "confirm": "1"}).status_code == 302

    assert wallet_balances(user=creator.user).diamond_units == 15_000
    debit = BalanceAdjustment.objects.get(amount=-5_000)
    assert (debit.balance_before, debit.balance_after, debit.decided_by) == (
        20_000,
        15_000,
        alice,
    )


def test_bonus_coins_are_whole_and_the_error_is_beside_the_amount(client):
    client.force_login(staff_create(FINANCE))
    form = {**credit_form(creator_create().user, "1.5"), "account_kind": "bonus_coins"}
    response = client.post(ADJUST, form)
    assert "whole coins" in str(response.context["form"].errors["amount"])
    assert not BalanceAdjustment.objects.exists()


def test_finance_finds_the_user_by_name(client):
    creator = creator_create()
    client.force_login(staff_create(FINANCE))
    found = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "wallets",
            "model_name": "balanceadjustment",
            "field_name": "user",
            "term": creator.user.username,
        },
    )
    assert found.status_code == 200
    assert [r["id"] for r in found.json()["results"]] == [str(creator.user.id)]


def test_the_approval_list_rejects_with_a_reason(client):
    from wallets import services

    alice, bob, creator = staff_create(FINANCE), staff_create(FINANCE), creator_create()
    credit = services.balance_adjustment_request(
        user=creator.user,
        account_kind="diamonds",
        amount=10 * DIAMOND_SCALE,
        reason="Outage",
        actor=alice,
        idempotency_key="r",
    )
    client.force_login(bob)
    waiting = client.get(LIST, {"status__exact": "requested"})
    assert list(waiting.context["cl"].result_list) == [credit]
    assert "Waiting for approval (1)" in waiting.content.decode()
    assert "+10 diamonds" in waiting.content.decode()

    asked = client.post(LIST, {"action": "reject", "_selected_action": [credit.id]})
    assert "reason" in asked.context["form"].fields
    client.post(
        LIST,
        {
            "action": "reject",
            "apply": "1",
            "reason": "No outage",
            "_selected_action": [credit.id],
        },
    )
    credit.refresh_from_db()
    assert (credit.status, credit.rejection_reason) == ("rejected", "No outage")
    assert wallet_balances(user=creator.user).diamond_units == 0


def test_the_payout_queue_flags_diamonds_credited_by_hand(client):
    creator = rich_creator(diamonds=30_000)
    approved_credit(creator.user, 40_000)
    payout = payout_services.payout_request(
        creator=creator, diamond_units=None, idempotency_key="p"
    ).payout
    client.force_login(staff_create(FINANCE))

    queue = client.get(
        reverse("admin:payouts_payout_changelist"), {"q": payout.reference}
    )
    page = client.get(reverse("admin:payouts_payout_change", args=[payout.id]))

    for response in (queue, page):
        content = response.content.decode()
        assert "40,000 diamonds credited by hand in 30 days" in content
        assert "earnings spike" in content  # counted like earnings, all in a week
    assert payout.needs_second_approval
    # Earned in 30 days: the manual 40,000 (rich_creator's are not gifts).
    row = queue.context["cl"].result_list[0]
    assert row.earned_30_units == 40_000 * DIAMOND_SCALE
