"""Refund rules per region and the buyer's refund requests (issue 17)."""

import contextlib
import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import FINANCE, SUPPORT
from core.errors import ServiceError
from wallets import services
from wallets.models import Purchase, RefundRequest, RefundRule
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import refund_terms_for, wallet_balances
from wallets.stores import sandbox_receipt

from .factories import on_sale, purchase_buy, region_create, staff_create, user_create
from .test_refunds import spend

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
SINCE = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def bought(user, *, region_code="US", days_ago=0, bonus=0, store="apple", when=None):
    """An unused purchase of 100 paid coins (+ `bonus`) by `user`."""
    region = region_create(region_code)
    channel = "web" if store == "web" else "app"
    bundle, _ = on_sale(coins=100, bonus_coins=bonus, region=region, channel=channel)
    when = when or timezone.now() - days_ago * DAY
    n = Purchase.objects.count()
    if store == "apple":
        return purchase_buy(user, bundle, region, key=f"b{n}", when=when).purchase
    return services.purchase_record(
        user=user,
        bundle=bundle,
        region=region,
        channel=channel,
        store=store,
        receipt=sandbox_receipt(user.id, bundle.sku, f"t{user.id}-{n}", store=store),
        idempotency_key=f"b{n}",
        now=when,
    ).purchase


def rule(region_code=None, *, window=14, self_service=14, in_app="platform", at=SINCE):
    return RefundRule.objects.create(
        region=region_create(region_code) if region_code else None,
        window_days=window,
        self_service_days=self_service,
        in_app_purchases=in_app,
        effective_at=at,
    )


def ask(api_client, purchase, *, key="r-1", reason="Bought by mistake"):
    return api_client.post(
        f"/api/v1/purchases/{purchase.id}/refund-requests/",
        {"reason": reason},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.fixture
def buyer(api_client):
    user = user_create()
    api_client.force_authenticate(user)
    return user


# --- Which rule governs a purchase ------------------------------------------------


def test_the_seeded_default_keeps_todays_terms_everywhere():
    seeded = RefundRule.objects.get()
    assert (seeded.region, seeded.window_days, seeded.self_service_days) == (
        None,
        14,
        14,
    )
    assert seeded.in_app_purchases == "platform"
    assert seeded.history.get().history_change_reason.startswith("Seeded")
    terms = refund_terms_for(bought(user_create(), region_code="JP"))
    assert (terms.rule, terms.window_days, terms.self_service_days) == (seeded, 14, 14)


def test_a_regions_rule_governs_its_purchases_and_the_default_the_others():
    de = rule("DE", window=30, self_service=14)
    buyer = user_create()

    assert refund_terms_for(bought(buyer, region_code="DE")).rule == de
    assert refund_terms_for(bought(user_create(), region_code="US")).window_days == 14


def test_the_rule_in_force_when_the_purchase_was_made_governs_not_a_later_one():
    earlier = bought(user_create(), days_ago=3)
    stricter = rule("US", window=14, self_service=0, at=timezone.now() - DAY)
    later = bought(user_create())

    assert refund_terms_for(earlier).self_service_days == 14
    assert refund_terms_for(later).rule == stricter


def test_without_any_rule_the_built_in_14_days_apply():
    RefundRule.objects.all().delete()
    terms = refund_terms_for(bought(user_create()))
    assert (terms.rule, terms.window_days, terms.self_service_days) == (None, 14, 14)


def test_finance_refunds_within_the_regions_own_window():
    rule("US", window=30, self_service=0)
    p = bought(user_create(), days_ago=20)

    result = services.purchase_refund(
        purchase=p, actor=None, reason="Goodwill", source="finance"
    )

    assert result.refunded
    with pytest.raises(services.RefundRefused, match="30-day refund window"):
        services.purchase_refund(
            purchase=bought(user_create(), days_ago=30),
            actor=None,
            reason="Too late",
            source="finance",
        )


def test_where_the_store_refunds_in_app_purchases_nobody_here_refunds_them():
    rule("US", in_app="store")
    p = bought(user_create())

    with pytest.raises(services.RefundRefused, match="only the store refunds") as e:
        services.purchase_refund(purchase=p, actor=None, reason="x", source="finance")
    assert e.value.code == "refunded_by_store"
    web = bought(user_create(), store="web")
    assert services.purchase_refund(
        purchase=web, actor=None, reason="x", source="finance"
    ).refunded


# --- The buyer's request through the API -----------------------------------------


def test_within_the_self_service_days_an_unused_purchase_is_refunded_at_once(
    api_client, buyer
):
    p = bought(buyer, bonus=10)

    response = ask(api_client, p)

    assert response.status_code == 201
    body = response.json()
    assert body["refund_request"]["status"] == "granted"
    assert body["refund_request"]["paid_coins_taken_back"] == 100
    assert body["refund_request"]["bonus_coins_taken_back"] == 10
    assert body["wallet"]["coins"] == 0
    p.refresh_from_db()
    assert (p.status, p.refund_source, p.refunded_by) == ("refunded", "request", None)
    assert p.refund_reason == "Requested by the buyer. Bought by mistake"
    request = RefundRequest.objects.get()
    assert (request.user, request.rule, request.review) == (
        buyer,
        RefundRule.objects.get(),
        "",
    )
    assert ledger_reconcile().is_clean


def test_a_repeat_with_the_same_key_returns_the_first_and_moves_nothing(
    api_client, buyer
):
    p = bought(buyer)
    first = ask(api_client, p)

    again = ask(api_client, p)
    other_body = ask(api_client, p, reason="Something else")

    assert again.status_code == 200
    assert again.json()["refund_request"] == first.json()["refund_request"]
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert RefundRequest.objects.count() == 1
    assert ledger_reconcile().is_clean


def test_past_the_self_service_days_the_request_waits_for_finance(api_client, buyer):
    rule("US", window=30, self_service=7)
    p = bought(buyer, days_ago=10)

    response = ask(api_client, p)

    assert response.status_code == 202
    body = response.json()["refund_request"]
    assert (body["status"], body["review"]) == ("queued", "self_service_passed")
    assert "Past the 7 days" in body["review_detail"]
    assert body["paid_coins_taken_back"] is None
    assert wallet_balances(user=buyer).paid_coins == 100
    p.refresh_from_db()
    assert p.status == "completed"


def test_in_a_region_without_self_service_every_request_waits(api_client, buyer):
    rule("US", window=14, self_service=0)
    p = bought(buyer)

    response = ask(api_client, p)

    assert response.status_code == 202
    assert response.json()["refund_request"]["review"] == "no_self_service"
    assert wallet_balances(user=buyer).paid_coins == 100


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda buyer, p: spend(buyer, 1), "coins_used"),
        (lambda buyer, p: rule("US", in_app="store"), "refunded_by_store"),
        (
            lambda buyer, p: services.purchase_refund(
                purchase=p, actor=None, reason="x", source="finance"
            ),
            "already_refunded",
        ),
    ],
    ids=["coins_used", "refunded_by_store", "already_refunded"],
)
def test_what_nobody_could_grant_is_refused_outright_and_records_nothing(
    api_client, buyer, setup, code
):
    p = bought(buyer)
    with transaction.atomic():
        setup(buyer, p)
    coins = wallet_balances(user=buyer).paid_coins

    response = ask(api_client, p)

    assert response.status_code == 409
    assert response.json()["code"] == code
    assert not RefundRequest.objects.exists()
    assert wallet_balances(user=buyer).paid_coins == coins


def test_a_spent_bonus_makes_the_purchase_used(api_client, buyer):
    p = bought(buyer, bonus=10)
    spend(buyer, 10)

    response = ask(api_client, p)

    assert response.status_code == 409
    assert response.json()["code"] == "coins_used"
    assert "bonus coins were spent" in response.json()["detail"]


def test_past_the_window_is_refused(api_client, buyer):
    p = bought(buyer, days_ago=15)

    response = ask(api_client, p)

    assert response.status_code == 409
    assert response.json()["code"] == "refund_window_passed"
    assert not RefundRequest.objects.exists()


def test_someone_elses_purchase_is_404_and_nothing_happens(api_client, buyer):
    victim = user_create()
    p = bought(victim)

    response = ask(api_client, p)

    assert response.status_code == 404
    assert not RefundRequest.objects.exists()
    assert wallet_balances(user=victim).paid_coins == 100
    with pytest.raises(ServiceError) as refusal:
        services.refund_request_create(
            purchase=p, user=buyer, reason="", idempotency_key="k"
        )
    assert refusal.value.status_code == 404


def test_one_request_per_purchase_whatever_the_key(api_client, buyer):
    rule("US", self_service=0)
    p = bought(buyer)
    ask(api_client, p, key="first")

    response = ask(api_client, p, key="second")

    assert response.status_code == 409
    assert response.json()["code"] == "refund_already_requested"
    assert RefundRequest.objects.count() == 1


def test_bad_input_is_a_400_naming_it_and_records_nothing(api_client, buyer):
    p = bought(buyer)

    no_key = api_client.post(
        f"/api/v1/purchases/{p.id}/refund-requests/", {}, format="json"
    )
    long = ask(api_client, p, reason="x" * 1001)

    assert no_key.status_code == 400
    assert "Idempotency-Key" in no_key.json()
    assert long.status_code == 400
    assert "reason" in long.json()
    assert not RefundRequest.objects.exists()


def test_signed_out_is_401(api_client):
    p = bought(user_create())
    assert ask(api_client, p).status_code == 401


def test_the_list_shows_only_ones_own_requests(
    api_client, buyer, django_assert_num_queries
):
    rule("US", self_service=0)
    mine = [bought(buyer) for _ in range(3)]
    for i, p in enumerate(mine):
        ask(api_client, p, key=f"k{i}")
    other = user_create()
    services.refund_request_create(
        purchase=bought(other), user=other, reason="", idempotency_key="x"
    )

    with django_assert_num_queries(1):
        response = api_client.get("/api/v1/refund-requests/")

    assert response.status_code == 200
    assert [r["purchase"] for r in response.json()["results"]] == [
        p.id for p in reversed(mine)
    ]


# --- Finance decides the queue -----------------------------------------------------


def queued(buyer=None, **rule_fields):
    rule("US", window=14, self_service=0, **rule_fields)
    buyer = buyer or user_create()
    return services.refund_request_create(
        purchase=bought(buyer), user=buyer, reason="Please", idempotency_key="q"
    ).request


def test_finance_approves_a_queued_request_and_the_purchase_is_refunded():
    request = queued()
    finance = staff_create(FINANCE)

    request = services.refund_request_approve(request=request, actor=finance)

    assert (request.status, request.decided_by) == ("approved", finance)
    assert request.paid_coins_taken_back == 100
    purchase = request.purchase
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_by) == ("refunded", finance)
    assert "Please" in purchase.refund_reason
    assert wallet_balances(user=request.user).paid_coins == 0
    assert ledger_reconcile().is_clean


def test_finance_declines_with_a_reason_and_nothing_moves():
    request = queued()
    finance = staff_create(FINANCE)

    with pytest.raises(services.RefundRefused, match="Say why"):
        services.refund_request_decline(request=request, actor=finance, reason=" ")
    request = services.refund_request_decline(
        request=request, actor=finance, reason="Used the coins offline"
    )

    assert (request.status, request.decline_reason) == (
        "declined",
        "Used the coins offline",
    )
    assert wallet_balances(user=request.user).paid_coins == 100


def test_nobody_decides_a_request_on_their_own_purchase():
    finance = staff_create(FINANCE)
    request = queued(buyer=finance)

    for decide in (
        lambda: services.refund_request_approve(request=request, actor=finance),
        lambda: services.refund_request_decline(
            request=request, actor=finance, reason="mine"
        ),
    ):
        with pytest.raises(services.RefundRefused) as refusal:
            decide()
        assert refusal.value.code == "own_purchase"
    request.refresh_from_db()
    assert request.status == "queued"
    assert wallet_balances(user=finance).paid_coins == 100


@pytest.mark.parametrize("role", [SUPPORT, None])
def test_only_finance_decides(role):
    request = queued()
    actor = staff_create(role) if role else user_create()

    with pytest.raises(services.RefundRefused) as refusal:
        services.refund_request_approve(request=request, actor=actor)
    assert refusal.value.status_code == 403
    request.refresh_from_db()
    assert request.status == "queued"


def test_a_decided_request_is_decided_once():
    request = queued()
    finance = staff_create(FINANCE)
    services.refund_request_decline(request=request, actor=finance, reason="No")

    with pytest.raises(services.RefundRefused, match="already declined") as refusal:
        services.refund_request_approve(request=request, actor=staff_create(FINANCE))
    assert refusal.value.code == "already_decided"
    assert wallet_balances(user=request.user).paid_coins == 100


def test_approval_past_the_window_is_refused_and_the_request_stays_queued():
    request = queued()
    finance = staff_create(FINANCE)

    with pytest.raises(services.RefundRefused) as refusal:
        services.refund_request_approve(
            request=request, actor=finance, now=timezone.now() + 15 * DAY
        )

    assert refusal.value.code == "refund_window_passed"
    request.refresh_from_db()
    assert request.status == "queued"
    assert wallet_balances(user=request.user).paid_coins == 100


def test_a_purchase_the_store_refunded_meanwhile_cannot_be_approved():
    request = queued()
    services.store_refund_notification_handle(
        store="apple", transaction_id=request.purchase.store_transaction_id
    )

    with pytest.raises(services.RefundRefused, match="already refunded"):
        services.refund_request_approve(request=request, actor=staff_create(FINANCE))
    request.refresh_from_db()
    assert request.status == "queued"


def test_requests_are_append_only():
    request = queued()
    with pytest.raises(TypeError):
        request.save()
    with pytest.raises(TypeError):
        request.delete()
    with pytest.raises(TypeError):
        RefundRequest.objects.all().delete()


# --- The edge of the windows, to the microsecond, on both databases ----------------


@contextlib.contextmanager
def _example():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    self_service=st.integers(1, 20),
    extra=st.integers(0, 20),
    # Microseconds from the deadline: right at it, and a few seconds either side.
    shift=st.one_of(st.integers(-3, 3), st.integers(-2_000_000, 2_000_000)),
    edge=st.sampled_from(["self_service", "window"]),
)
def test_a_request_is_granted_before_the_self_service_deadline_and_never_at_it(
    self_service, extra, shift, edge
):
    with _example():
        rule("US", window=self_service + extra, self_service=self_service)
        user = user_create()
        p = bought(user)
        days = self_service if edge == "self_service" else self_service + extra
        now = p.created_at + days * DAY + datetime.timedelta(microseconds=shift)

        try:
            request = services.refund_request_create(
                purchase=p, user=user, reason="", idempotency_key="k", now=now
            ).request
        except services.RefundRefused as refusal:
            assert refusal.code == "refund_window_passed"
            assert now >= p.created_at + (self_service + extra) * DAY
            assert not RefundRequest.objects.exists()
            return
        p.refresh_from_db()
        if now < p.created_at + self_service * DAY:
            assert request.status == "granted"
            assert p.status == "refunded"
        else:
            assert now < p.created_at + (self_service + extra) * DAY
            assert (request.status, request.review) == (
                "queued",
                "self_service_passed",
            )
            assert p.status == "completed"
        assert RefundRequest.objects.get().created_at == now
