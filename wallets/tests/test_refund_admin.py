"""Finance's screens for refund rules and the refund request queue."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from wallets import services
from wallets.models import RefundRequest, RefundRule
from wallets.selectors import wallet_balances

from .factories import region_create, staff_create, user_create
from .test_refund_requests import bought, rule

pytestmark = pytest.mark.django_db
RULES = "/admin/wallets/refundrule/"
QUEUE = "/admin/wallets/refundrequest/"
DAY = datetime.timedelta(days=1)


def queued_request(buyer=None):
    buyer = buyer or user_create()
    return services.refund_request_create(
        purchase=bought(buyer), user=buyer, reason="Wrong bundle", idempotency_key="q"
    ).request


@pytest.fixture
def no_self_service_in_us():
    return rule("US", window=14, self_service=0)


def _rule_form(region, **fields):
    return {
        "region": region.id,
        "window_days": 14,
        "self_service_days": 14,
        "in_app_purchases": "platform",
        "effective_at_0": "",
        "effective_at_1": "",
        **fields,
    }


def test_finance_adds_a_rule_from_now_and_history_says_who(client):
    finance = staff_create(FINANCE)
    client.force_login(finance)
    de = region_create("DE", "EUR")

    response = client.post(f"{RULES}add/", _rule_form(de, window_days=30))

    assert response.status_code == 302
    added = RefundRule.objects.get(region=de)
    assert (added.window_days, added.created_by) == (30, finance)
    assert added.effective_at <= timezone.now()
    entry = added.history.get()
    assert (entry.history_user, entry.history_change_reason) == (finance, "Admin")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"effective_at_0": "2020-01-01", "effective_at_1": "00:00"},
            "effective_at",
            "cannot start in the past",
        ),
        ({"self_service_days": 20}, "self_service_days", "At most the refund window"),
        ({"window_days": 366}, "window_days", "less than or equal to 365"),
    ],
    ids=["past", "self_service_past_window", "window_too_long"],
)
def test_a_bad_rule_is_refused_beside_its_field_and_nothing_is_written(
    client, fields, field, message
):
    client.force_login(staff_create(FINANCE))

    response = client.post(f"{RULES}add/", _rule_form(region_create("DE"), **fields))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert RefundRule.objects.count() == 1


def test_a_rule_in_force_is_never_changed_or_deleted_a_pending_one_may_be(client):
    client.force_login(staff_create(FINANCE))
    seeded = RefundRule.objects.get()
    pending = rule("DE", at=timezone.now() + DAY)

    assert client.post(f"{RULES}{seeded.id}/change/", {}).status_code == 403
    assert (
        client.post(f"{RULES}{seeded.id}/delete/", {"post": "yes"}).status_code == 403
    )
    changed = client.post(
        f"{RULES}{pending.id}/change/",
        _rule_form(
            pending.region,
            window_days=30,
            effective_at_0=f"{timezone.now() + 2 * DAY:%Y-%m-%d}",
            effective_at_1="12:00",
        ),
    )
    assert changed.status_code == 302
    pending.refresh_from_db()
    assert pending.window_days == 30
    seeded.refresh_from_db()
    assert seeded.window_days == 14
    with pytest.raises(TypeError):
        seeded.delete()


def test_the_rules_list_says_which_rule_is_in_force(client):
    client.force_login(staff_create(SUPPORT))
    rule(None, window=30, at=timezone.now() - DAY)
    rule("DE", at=timezone.now() + DAY)

    page = client.get(RULES).content.decode()

    assert "Replaced by a later rule" in page
    assert "In force" in page
    assert "Pending" in page


@pytest.mark.parametrize("role", [SUPPORT, CATALOG_EDITORS])
def test_only_finance_edits_rules(client, role):
    client.force_login(staff_create(role))
    response = client.post(f"{RULES}add/", _rule_form(region_create("DE")))
    assert response.status_code == 403
    assert RefundRule.objects.count() == 1


def test_the_queue_opens_on_waiting_requests_with_money_shown(
    client, no_self_service_in_us
):
    waiting = queued_request()
    declined = queued_request()
    services.refund_request_decline(
        request=declined, actor=staff_create(FINANCE), reason="No"
    )
    client.force_login(staff_create(FINANCE))

    page = client.get(QUEUE)

    assert [r.id for r in page.context["cl"].result_list] == [waiting.id]
    content = page.content.decode()
    assert "$0.99" in content
    assert "No self-service refunds in the region" in content
    everything = client.get(f"{QUEUE}?status=all")
    assert len(everything.context["cl"].result_list) == 2


def test_finance_approves_from_the_queue(client, no_self_service_in_us):
    request = queued_request()
    finance = staff_create(FINANCE)
    client.force_login(finance)

    done = client.post(
        QUEUE, {"action": "approve", "_selected_action": [request.id]}, follow=True
    )

    assert "Approved 1 request(s)." in [str(m) for m in done.context["messages"]]
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("approved", finance)
    assert wallet_balances(user=request.user).paid_coins == 0


def test_finance_declines_with_a_reason_after_a_confirmation_page(
    client, no_self_service_in_us
):
    request = queued_request()
    client.force_login(staff_create(FINANCE))
    selection = {"action": "decline", "_selected_action": [request.id]}

    confirm = client.post(QUEUE, selection)
    blank = client.post(QUEUE, {**selection, "apply": "1", "reason": ""})
    done = client.post(
        QUEUE, {**selection, "apply": "1", "reason": "Coins used in a game"}
    )

    assert b"Decline 1 request(s)" in confirm.content
    assert blank.context["form"].errors == {"reason": ["This field is required."]}
    assert done.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decline_reason) == (
        "declined",
        "Coins used in a game",
    )
    assert wallet_balances(user=request.user).paid_coins == 100


def test_finance_cannot_approve_a_request_on_their_own_purchase(
    client, no_self_service_in_us
):
    finance = staff_create(FINANCE)
    request = queued_request(buyer=finance)
    client.force_login(finance)

    done = client.post(
        QUEUE, {"action": "approve", "_selected_action": [request.id]}, follow=True
    )

    [message] = [str(m) for m in done.context["messages"]]
    assert "own purchase" in message
    request.refresh_from_db()
    assert request.status == "queued"
    assert wallet_balances(user=finance).paid_coins == 100


def test_support_reads_the_queue_but_decides_nothing(client, no_self_service_in_us):
    request = queued_request()
    client.force_login(staff_create(SUPPORT))

    page = client.get(QUEUE)
    detail = client.get(f"{QUEUE}{request.id}/change/")
    tried = client.post(QUEUE, {"action": "approve", "_selected_action": [request.id]})

    assert page.status_code == detail.status_code == 200
    assert page.context["action_form"] is None
    assert tried.status_code in (200, 302)
    request.refresh_from_db()
    assert request.status == "queued"


def test_the_queue_runs_the_same_queries_however_many_requests(
    client, no_self_service_in_us
):
    client.force_login(staff_create(FINANCE))

    def queries(count):
        for _ in range(count):
            queued_request()
        with CaptureQueriesContext(connection) as captured:
            assert client.get(QUEUE).status_code == 200
        return len(captured)

    assert queries(1) == queries(4)
    assert RefundRequest.objects.filter(status="queued").count() == 5


def test_a_rules_history_page_says_who_changed_what(client):
    finance = staff_create(FINANCE)
    client.force_login(finance)
    pending = rule("DE", window=14, at=timezone.now() + DAY)
    client.post(
        f"{RULES}{pending.id}/change/",
        _rule_form(
            pending.region,
            window_days=30,
            effective_at_0=f"{timezone.now() + 2 * DAY:%Y-%m-%d}",
            effective_at_1="12:00",
        ),
    )

    page = client.get(f"{RULES}{pending.id}/history/")

    assert page.status_code == 200
    content = page.content.decode()
    assert finance.username in content
    assert "Refund window (days)" in content


def test_a_purchases_page_links_its_refund_request(client, no_self_service_in_us):
    request = queued_request()
    client.force_login(staff_create(SUPPORT))

    page = client.get(f"/admin/wallets/purchase/{request.purchase_id}/change/")

    assert f"/admin/wallets/refundrequest/{request.id}/change/" in page.content.decode()
    assert "Waiting for finance" in page.content.decode()
