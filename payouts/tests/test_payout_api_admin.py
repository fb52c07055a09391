import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import FINANCE, SUPPORT
from gifting.tests.factories import rich_creator
from payouts import services
from payouts.models import Payout
from wallets.models import DIAMOND_SCALE
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db
PAYOUTS = "/api/v1/payouts/"


def test_a_creator_asks_for_a_payout_and_sees_only_their_own(api_client):
    creator, other = rich_creator(diamonds=30_000), rich_creator(diamonds=30_000)
    services.payout_request(creator=other, diamond_units=None, idempotency_key="x")
    api_client.force_authenticate(creator.user)

    created = api_client.post(
        PAYOUTS, {"diamonds": "20000"}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
    )
    replay = api_client.post(
        PAYOUTS, {"diamonds": "20000"}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
    )

    assert created.status_code == 201
    body = created.json()["payout"]
    assert (body["diamonds"], body["net_amount"], body["status"]) == (
        "20000.0000",
        "98.75",
        "requested",
    )
    assert replay.status_code == 200
    listed = api_client.get(PAYOUTS).json()["results"]
    assert [p["id"] for p in listed] == [body["id"]]
    other_id = Payout.objects.get(creator=other).id
    assert api_client.get(f"{PAYOUTS}{other_id}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "key"),
    [
        ({"diamonds": "100"}, 400, "diamonds"),
        ({"diamonds": "99999999"}, 400, "diamonds"),
        ({}, 400, "diamonds"),
        ({"diamonds": "20000", "all": True}, 400, "diamonds"),
        ({"diamonds": "-5"}, 400, "diamonds"),
        ({"all": True, "currency": "XYZ"}, 400, "currency"),
    ],
)
def test_bad_requests_are_400_on_the_field_and_hold_nothing(
    api_client, body, status, key
):
    creator = rich_creator(diamonds=30_000)
    api_client.force_authenticate(creator.user)

    response = api_client.post(PAYOUTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == status
    assert key in response.json()
    assert not Payout.objects.exists()


def test_a_second_open_payout_is_a_409(api_client):
    creator = rich_creator(diamonds=50_000)
    api_client.force_authenticate(creator.user)
    api_client.post(
        PAYOUTS, {"diamonds": "20000"}, format="json", HTTP_IDEMPOTENCY_KEY="1"
    )

    response = api_client.post(
        PAYOUTS, {"diamonds": "20000"}, format="json", HTTP_IDEMPOTENCY_KEY="2"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "payout_open"


def test_non_creators_cannot_ask(api_client):
    api_client.force_authenticate(user_create())
    response = api_client.post(
        PAYOUTS, {"all": True}, format="json", HTTP_IDEMPOTENCY_KEY="1"
    )
    assert response.status_code == 403


def test_the_queue_opens_on_what_waits_for_me_oldest_first(client):
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    small = services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="a",
    ).payout
    big = services.payout_request(
        creator=rich_creator(diamonds=400_000),
        diamond_units=300_000 * DIAMOND_SCALE,
        idempotency_key="b",
    ).payout
    services.payout_approve(payout=big, actor=alice)

    client.force_login(alice)
    alice_queue = list(client.get("/admin/payouts/payout/").context["cl"].result_list)
    client.force_login(bob)
    bob_queue = list(client.get("/admin/payouts/payout/").context["cl"].result_list)

    assert alice_queue == [small]
    assert bob_queue == [small, big]


def test_bulk_approve_and_bulk_reject_with_one_reason(client):
    finance = staff_create(FINANCE)
    payouts = [
        services.payout_request(
            creator=rich_creator(),
            diamond_units=20_000 * DIAMOND_SCALE,
            idempotency_key="k",
        ).payout
        for _ in range(4)
    ]
    client.force_login(finance)

    client.post(
        "/admin/payouts/payout/",
        {
            "action": "approve",
            "_selected_action": [p.id for p in payouts[:2]],
            "apply": "1",
            # Their creators are new: the confirmation names that flag.
            "risks_reviewed": "on",
        },
    )
    client.post(
        "/admin/payouts/payout/",
        {
            "action": "reject",
            "_selected_action": [p.id for p in payouts[2:]],
            "apply": "1",
            "reason": "Duplicate accounts",
        },
    )

    statuses = {p.id: p.status for p in Payout.objects.all()}
    assert [statuses[p.id] for p in payouts] == [
        "approved",
        "approved",
        "rejected",
        "rejected",
    ]


def test_a_wrong_transition_is_a_message_in_the_admin_and_changes_nothing(client):
    finance = staff_create(FINANCE)
    payout = services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="k",
    ).payout
    client.force_login(finance)

    response = client.post(
        "/admin/payouts/payout/",
        {"action": "retry", "_selected_action": [payout.id], "queue": "all"},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any("cannot be retried" in m for m in messages)
    payout.refresh_from_db()
    assert payout.status == "requested"


def test_support_sees_the_queue_but_cannot_approve(client):
    payout = services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="k",
    ).payout
    client.force_login(staff_create(SUPPORT))

    assert client.get("/admin/payouts/payout/").status_code == 200
    client.post(
        "/admin/payouts/payout/", {"action": "approve", "_selected_action": [payout.id]}
    )
    payout.refresh_from_db()
    assert payout.status == "requested"


def test_payout_page_shows_the_audit_trail_and_earnings(client):
    finance = staff_create(FINANCE)
    payout = services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="k",
    ).payout
    services.payout_approve(payout=payout, actor=finance)
    client.force_login(finance)

    page = client.get(f"/admin/payouts/payout/{payout.id}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "Approved" in content
    assert "Creator&#x27;s recent earnings" in content
    assert "Per day, last 30 days" in content


def test_queue_changelist_queries_do_not_grow_with_payouts(client):
    client.force_login(staff_create(FINANCE))

    def queries_for(count):
        for n in range(count - Payout.objects.count()):
            services.payout_request(
                creator=rich_creator(),
                diamond_units=20_000 * DIAMOND_SCALE,
                idempotency_key=f"{count}-{n}",
            )
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/admin/payouts/payout/")
        assert len(response.context["cl"].result_list) == count
        return len(captured)

    assert queries_for(2) == queries_for(8)


def test_the_creator_reads_why_finance_rejected_a_payout(api_client):
    creator = rich_creator(diamonds=100_000)
    finance = staff_create(FINANCE)
    refused = services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="1"
    ).payout
    services.payout_reject(
        payout=refused, actor=finance, reason="  The PayPal account is not yours.  "
    )
    waiting = services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="2"
    ).payout
    api_client.force_authenticate(creator.user)

    listed = {p["id"]: p for p in api_client.get(PAYOUTS).json()["results"]}
    one = api_client.get(f"{PAYOUTS}{refused.id}/").json()
    replayed = api_client.post(
        PAYOUTS, {"diamonds": "20000"}, format="json", HTTP_IDEMPOTENCY_KEY="1"
    ).json()["payout"]

    reason = "The PayPal account is not yours."
    assert listed[refused.id]["rejection_reason"] == reason
    assert one["rejection_reason"] == replayed["rejection_reason"] == reason
    assert listed[waiting.id]["rejection_reason"] is None


def test_the_payout_list_reads_rejection_reasons_in_the_same_query(api_client):
    creator = rich_creator(diamonds=400_000)
    finance = staff_create(FINANCE)
    api_client.force_authenticate(creator.user)

    def queries_for(count):
        for n in range(count - Payout.objects.count()):
            payout = services.payout_request(
                creator=creator,
                diamond_units=20_000 * DIAMOND_SCALE,
                idempotency_key=f"{count}-{n}",
            ).payout
            services.payout_reject(payout=payout, actor=finance, reason=f"No {n}")
        with CaptureQueriesContext(connection) as captured:
            body = api_client.get(PAYOUTS).json()
        assert len(body["results"]) == count
        assert all(p["rejection_reason"].startswith("No ") for p in body["results"])
        return len(captured)

    assert queries_for(1) == queries_for(4)
