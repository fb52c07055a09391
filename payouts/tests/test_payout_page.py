"""The payout's page, where finance decides a payout, and the queue around it:
what they read, what each decision says it did, and that four eyes hold against
someone posting to the page by hand."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from gifting.models import CreatorProfile
from gifting.tests.factories import rich_creator
from payouts import selectors, services
from payouts.models import Payout, PayoutEvent
from payouts.tests.scenes import queue_scene
from wallets.models import DIAMOND_SCALE
from wallets.selectors import wallet_balances
from wallets.tests.factories import staff_create

pytestmark = pytest.mark.django_db
QUEUE = "/admin/payouts/payout/"


def page_of(payout) -> str:
    return f"{QUEUE}{payout.id}/change/"


def veteran(creator: CreatorProfile) -> CreatorProfile:
    """Old enough not to be flagged as a new creator."""
    creator.user.date_joined = timezone.now() - datetime.timedelta(days=400)
    creator.user.save(update_fields=["date_joined"])
    return creator


def ask(diamonds: int, *, creator=None, key="k") -> Payout:
    creator = creator or veteran(rich_creator(diamonds=400_000))
    return services.payout_request(
        creator=creator, diamond_units=diamonds * DIAMOND_SCALE, idempotency_key=key
    ).payout


def decide(client, payout, decision, *, follow=True, **fields):
    """Post a decision as the page does, on the state the page showed."""
    payout.refresh_from_db()
    data = {"decision": decision, "status_seen": payout.status, **fields}
    return client.post(page_of(payout), data, follow=follow)


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def unchanged(payout) -> tuple:
    fresh = Payout.objects.get(id=payout.id)
    return (
        fresh.status,
        fresh.first_approver_id,
        fresh.second_approver_id,
        PayoutEvent.objects.filter(payout=payout).count(),
    )


@pytest.fixture
def alice():
    return staff_create(FINANCE, username="alice")


@pytest.fixture
def bob():
    return staff_create(FINANCE, username="bob")


def test_the_page_shows_amounts_flags_with_their_causes_history_and_earnings(client):
    scene = queue_scene()
    client.force_login(scene.bob)

    flagged = client.get(page_of(scene.flagged)).content.decode()
    regular = client.get(page_of(scene.regular)).content.decode()

    for amount in (
        "300,000.5",
        "0.005 USD a diamond",
        "$1,500.00",
        "$15.25",
        "$1,484.75",
    ):
        assert amount in flagged
    # Each flag with what raised it.
    assert "new creator" in flagged and "days ago (under 30)" in flagged
    assert "earnings spike" in flagged and "over twice the month" in flagged
    assert "most earnings from one sender" in flagged
    assert "One sender gave 2,000 of 2,000 diamonds in 30 days (100 %)" in flagged
    assert "payout method changed recently" in flagged and "cool-off ends" in flagged
    assert "Held until" in flagged
    # The creator's gifts per day, and the timeline with who and when.
    assert re.search(r"<td>\d{4}-\d\d-\d\d</td><td>1</td><td>2,000</td>", flagged)
    assert "Requested</strong> · " + scene.flagged.creator.user.username in flagged
    # Her earlier payouts: one paid, one refused; and who decided when.
    assert "Paid" in regular and "Rejected" in regular
    assert regular.count('class="cut cut-ref"') >= 2
    half = client.get(page_of(scene.half_approved)).content.decode()
    assert "First approval (a second is needed)</strong> · alice" in half


def test_a_payout_without_flags_is_approved_on_its_page_and_queued(client, alice):
    payout = ask(20_000)
    client.force_login(alice)

    response = decide(client, payout, "approve")

    assert response.redirect_chain == [(page_of(payout), 302)]
    assert said(response) == ["Approved and queued for payment."]
    payout.refresh_from_db()
    assert (payout.status, payout.first_approver) == ("approved", alice)


def test_two_finance_users_approve_a_large_payout_and_read_what_each_step_did(
    client, alice, bob
):
    payout = ask(300_000)
    assert payout.needs_second_approval

    client.force_login(alice)
    page = client.get(page_of(payout)).content.decode()
    first = decide(client, payout, "approve")
    client.force_login(bob)
    bobs_page = client.get(page_of(payout)).content.decode()
    second = decide(client, payout, "approve")

    assert "Give the first approval" in page
    assert said(first) == [
        "First approval recorded; a second finance user must approve."
    ]
    assert "Give the second approval" in bobs_page
    assert said(second) == ["Approved and queued for payment."]
    payout.refresh_from_db()
    assert (payout.status, payout.first_approver, payout.second_approver) == (
        "approved",
        alice,
        bob,
    )


def test_the_first_approver_cannot_give_the_second_approval_by_posting(client, alice):
    payout = ask(300_000)
    services.payout_approve(payout=payout, actor=alice)
    before = unchanged(payout)
    client.force_login(alice)

    page = client.get(page_of(payout)).content.decode()
    posted = decide(client, payout, "approve")
    # Forged fields beside the decision are not read.
    forged = decide(
        client,
        payout,
        "approve",
        second_approver=alice.id + 1,
        first_approver=alice.id + 1,
        actor=alice.id + 1,
    )

    assert "Give the second approval" not in page
    assert "The second approval must come from someone else." in page
    for response in (posted, forged):
        assert said(response) == ["The second approval must come from someone else."]
    assert unchanged(payout) == before
    assert Payout.objects.get(id=payout.id).second_approver is None


def test_finance_cannot_approve_their_own_payout_on_its_page(client):
    insider = rich_creator(diamonds=400_000)
    veteran(insider)
    insider.user.is_staff = True
    insider.user.save(update_fields=["is_staff"])
    insider.user.groups.add(Group.objects.get(name=FINANCE))
    payout = ask(20_000, creator=insider)
    before = unchanged(payout)
    client.force_login(insider.user)

    page = client.get(page_of(payout)).content.decode()
    response = decide(client, payout, "approve")

    assert "Nobody approves their own payout." in page
    assert 'value="approve"' not in page
    assert said(response) == ["Nobody approves their own payout."]
    assert unchanged(payout) == before
    # Nor is it waiting for them in the queue.
    assert list(client.get(QUEUE).context["cl"].result_list) == []


def test_a_double_posted_first_approval_never_becomes_the_second(client, alice):
    payout = ask(300_000)
    client.force_login(alice)
    seen = {"decision": "approve", "status_seen": "requested"}

    first = client.post(page_of(payout), seen)
    again = client.post(page_of(payout), seen)

    assert first.status_code == 302
    assert again.status_code == 200
    assert "This payout changed since the page was shown" in again.content.decode()
    payout.refresh_from_db()
    assert (payout.status, payout.first_approver, payout.second_approver) == (
        "awaiting_second",
        alice,
        None,
    )


def test_forged_or_unknown_decisions_change_nothing(client, alice, bob):
    payout = ask(300_000)
    services.payout_approve(payout=payout, actor=alice)
    before = unchanged(payout)
    client.force_login(alice)

    unknown = client.post(
        f"{QUEUE}999999/change/", {"decision": "approve", "status_seen": "requested"}
    )
    bogus = decide(client, payout, "approve_twice", follow=False)
    no_state = client.post(page_of(payout), {"decision": "approve"})
    listed = client.post(
        f"{QUEUE}?queue=all",
        {
            "action": "approve",
            "_selected_action": [payout.id],
            "apply": "1",
            "risks_reviewed": "on",
        },
        follow=True,
    )
    fetched = client.get(page_of(payout), {"decision": "approve"})

    assert unknown.status_code == 302
    assert bogus.status_code == 400
    assert no_state.status_code == 200
    assert f"{payout.reference}: The second approval must come from someone else." in (
        said(listed)
    )
    assert fetched.status_code == 200
    assert unchanged(payout) == before


def test_support_reads_the_page_but_cannot_decide(client):
    payout = ask(20_000)
    before = unchanged(payout)
    client.force_login(staff_create(SUPPORT))

    page = client.get(page_of(payout))
    response = decide(client, payout, "approve", follow=False)
    rejected = decide(client, payout, "reject", follow=False, reason="No")

    assert page.status_code == 200
    assert 'name="decision"' not in page.content.decode()
    assert (response.status_code, rejected.status_code) == (403, 403)
    assert unchanged(payout) == before


def test_a_decision_needs_the_pages_csrf_token(alice):
    payout = ask(20_000)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    response = browser.post(
        page_of(payout), {"decision": "approve", "status_seen": "requested"}
    )

    assert response.status_code == 403
    assert Payout.objects.get(id=payout.id).status == "requested"


def test_approving_a_flagged_payout_needs_a_tick_naming_its_flags(client, alice):
    payout = ask(20_000, creator=rich_creator(diamonds=30_000))  # a new creator
    before = unchanged(payout)
    client.force_login(alice)

    page = client.get(page_of(payout)).content.decode()
    unticked = decide(client, payout, "approve", flags_seen="new creator")
    stale = decide(client, payout, "approve", risks_reviewed="on", flags_seen="nothing")

    assert "I have reviewed the risk flags: new creator" in page
    assert unticked.status_code == 200
    errors = re.search(
        r'<div class="confirm-risks">\s*<ul class="errorlist[^"]*"[^>]*><li>(.*?)</li>',
        unticked.content.decode(),
    )
    assert errors and "Tick to confirm you reviewed the risk flags (new creator)" in (
        errors.group(1)
    )
    assert "The risk flags changed since the page was shown" in (stale.content.decode())
    assert unchanged(payout) == before

    ticked = decide(
        client, payout, "approve", risks_reviewed="on", flags_seen="new creator"
    )

    assert said(ticked) == ["Approved and queued for payment."]


def test_a_rejection_needs_a_reason_beside_the_field_and_gives_the_diamonds_back(
    client, alice, api_client
):
    payout = ask(20_000)
    creator_user = payout.creator.user
    held = wallet_balances(user=creator_user).diamond_units
    before = unchanged(payout)
    client.force_login(alice)

    empty = decide(client, payout, "reject", reason="   ")

    assert empty.status_code == 200
    assert re.search(
        r'<ul class="errorlist[^"]*"[^>]*><li>Give the reason: the creator reads it.'
        r"</li></ul>\s*<textarea",
        empty.content.decode(),
    )
    too_long = decide(client, payout, "reject", reason="x" * 1001)
    assert "at most 1000 characters" in too_long.content.decode()
    assert unchanged(payout) == before
    assert wallet_balances(user=creator_user).diamond_units == held

    done = decide(client, payout, "reject", reason="The PayPal account is not yours.")

    assert said(done) == [
        "Rejected: the diamonds went back to the creator, who sees the reason."
    ]
    assert Payout.objects.get(id=payout.id).status == "rejected"
    assert wallet_balances(user=creator_user).diamond_units == (
        held + 20_000 * DIAMOND_SCALE
    )
    api_client.force_authenticate(creator_user)
    body = api_client.get(f"/api/v1/payouts/{payout.id}/").json()
    assert body["rejection_reason"] == "The PayPal account is not yours."


def test_a_failed_payout_is_retried_or_returned_on_its_page(client):
    scene = queue_scene()
    client.force_login(scene.alice)

    page = client.get(page_of(scene.failed)).content.decode()
    retried = decide(client, scene.failed, "retry")

    assert 'value="retry"' in page and 'value="return"' in page
    assert said(retried) == [
        f"Queued for payment again as {scene.failed.reference}-R1."
    ]
    services.payouts_send(payout_ids=[scene.failed.id])  # fails again: +fail
    returned = decide(client, scene.failed, "return")
    assert said(returned) == ["Returned: the diamonds went back to the creator."]
    assert Payout.objects.get(id=scene.failed.id).status == "returned"


def test_an_approval_held_by_a_recent_method_change_says_until_when(client, alice):
    creator = veteran(rich_creator(diamonds=400_000))
    changed = timezone.now() - datetime.timedelta(days=2)
    CreatorProfile.objects.filter(id=creator.id).update(
        payout_method_changed_at=changed
    )
    creator.refresh_from_db()
    payout = ask(20_000, creator=creator)
    client.force_login(alice)

    response = decide(
        client,
        payout,
        "approve",
        risks_reviewed="on",
        flags_seen="payout method changed recently",
    )

    until = changed + datetime.timedelta(days=5)
    assert said(response) == [
        f"Approved; held until {until:%Y-%m-%d %H:%M} UTC: the payout method changed "
        f"{changed:%Y-%m-%d %H:%M} UTC and payouts to it wait out the cool-off. It is "
        "queued for payment then."
    ]
    assert payout.id not in services.payouts_due()


def test_the_queue_marks_second_approvals_and_lists_those_waiting_for_you(client):
    scene = queue_scene()

    def shown(user, queue):
        client.force_login(user)
        response = client.get(QUEUE, {"queue": queue})
        return response, [p.reference for p in response.context["cl"].result_list]

    bobs, bob_second = shown(scene.bob, "second")
    _, alice_second = shown(scene.alice, "second")
    _, support_second = shown(scene.support, "second")
    alices, _ = shown(scene.alice, "all")

    assert bob_second == [scene.half_approved.reference]
    assert alice_second == support_second == []
    assert "waiting for you" in bobs.content.decode()
    html = alices.content.decode()
    assert "needs 2 approvals" in html  # the flagged one, not yet approved
    assert "1st by alice" in html


def test_the_queue_adds_up_what_is_shown_and_what_waits(client):
    scene = queue_scene()
    client.force_login(scene.bob)

    html = client.get(QUEUE).content.decode()

    # Waiting for bob: flagged, plain, half-approved (alice's) and regular.
    waiting = [scene.flagged, scene.plain, scene.half_approved, scene.regular]
    net = sum(p.net_amount for p in waiting)
    gross = sum(p.gross_amount for p in waiting)
    assert f"4 payout(s) · net ${net:,.2f} (gross ${gross:,.2f}" in html
    assert (
        f"1 payout(s) · net ${scene.half_approved.net_amount:,.2f}" in html
    )  # the second approval waiting for bob


def test_a_bulk_approval_shows_count_and_total_first_then_says_what_it_did(
    client, alice
):
    plain = ask(20_000, key="a")
    large = ask(300_000, key="b")
    flagged = ask(20_000, creator=rich_creator(diamonds=30_000), key="c")
    client.force_login(alice)
    selected = {"action": "approve", "_selected_action": [plain.id, large.id]}

    confirm = client.post(QUEUE, selected)
    unticked = client.post(
        QUEUE, {"action": "approve", "_selected_action": [flagged.id], "apply": "1"}
    )

    html = confirm.content.decode()
    total = plain.net_amount + large.net_amount
    assert f"Approve 2 payout(s), in total net ${total:,.2f}" in html
    assert "1 of them need a second approval" in html
    assert "Approve 2 payout(s)" in html
    assert unticked.status_code == 200
    assert "Tick to confirm you reviewed the risk flags" in unticked.content.decode()
    assert {p.status for p in Payout.objects.all()} == {"requested"}

    done = client.post(QUEUE, {**selected, "apply": "1"}, follow=True)

    assert said(done) == [
        f"1 payout(s) ({large.reference}): First approval recorded; a second finance "
        "user must approve.",
        f"1 payout(s) ({plain.reference}): Approved and queued for payment.",
    ]
    statuses = dict(Payout.objects.values_list("id", "status"))
    assert (statuses[plain.id], statuses[large.id], statuses[flagged.id]) == (
        "approved",
        "awaiting_second",
        "requested",
    )


def test_who_may_finish_an_approval_is_the_same_in_the_queue_and_the_service(
    alice, bob
):
    payout = ask(300_000)
    payout = services.payout_approve(payout=payout, actor=alice)
    support = staff_create(SUPPORT)
    everyone = Payout.objects.all()

    for user in (alice, bob, support, payout.requester):
        listed = selectors.payouts_second_approval_for(everyone, user=user).exists()
        allowed = services.approval_refusal(payout=payout, actor=user) is None
        assert listed == allowed, user
