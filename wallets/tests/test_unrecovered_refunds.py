"""Store refunds the platform could not take back are on record for finance."""

import datetime
import json
import logging
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient

from accounts.errors import ServiceError
from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.models import AuditRecord
from wallets import services
from wallets.models import LedgerAccount, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import sandbox_signature

from .factories import on_sale, staff_create, user_create
from .test_refunds import notify, purchase, spend

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
URL = "/admin/wallets/unrecoveredstorerefund/"


def refund_of(txn):
    return {"type": "refund", "transaction_id": txn}


def spent_purchase(txn="s-1", spent=40, username=None):
    """USD 4.99 for 100 paid + 10 bonus coins; `spent` coins gone (bonus first)."""
    user = user_create(**({"username": username} if username else {}))
    bundle, region = on_sale(coins=100, amount="4.99", bonus_coins=10)
    bought = purchase(user, bundle, region, txn=txn)
    spend(user, spent, f"gift-{txn}")
    return bought


def store_refund(txn, store="apple", now=None):
    return services.store_refund_notification_handle(
        store=store, transaction_id=txn, now=now
    )


def refused_store_refund(txn, **kwargs) -> UnrecoveredStoreRefund:
    with pytest.raises(services.RefundRefused):
        store_refund(txn, **kwargs)
    return UnrecoveredStoreRefund.objects.get(purchase__store_transaction_id=txn)


# --- The record. ---


@pytest.mark.parametrize(
    ("spent", "paid_spent", "bonus_missing"),
    [(40, 30, 10), (4, 0, 4)],
    ids=["paid and bonus spent", "bonus only"],
)
def test_a_spent_purchase_refunded_by_the_store_is_recorded_with_its_figures(
    client, caplog, spent, paid_spent, bonus_missing
):
    bought = spent_purchase(spent=spent)
    caplog.set_level(logging.WARNING, logger="wallets.api.views")

    response = notify(client, "apple", refund_of("s-1"))

    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "refused"
    assert "partly used" in answer["detail"]
    assert "Store apple refund refused" in caplog.text
    record = UnrecoveredStoreRefund.objects.get()
    assert (
        record.purchase,
        record.store,
        record.reason,
        record.price,
        record.paid_coins_spent,
        record.bonus_coins_missing,
        record.notifications,
        record.resolved_at,
    ) == (
        bought,
        "apple",
        "coins_used",
        Money(Decimal("4.99"), "USD"),
        paid_spent,
        bonus_missing,
        1,
        None,
    )
    assert record.message == answer["detail"]
    assert record.received_at == record.last_received_at
    # Nothing was taken back: the wallet and the purchase are as they were.
    bought.refresh_from_db()
    assert bought.status == "completed"
    assert wallet_balances(user=bought.user).coins == 110 - spent
    assert ledger_reconcile().is_clean


def test_a_store_that_notifies_again_is_counted_on_the_same_record(client):
    spent_purchase()
    first_at = timezone.now()
    first = refused_store_refund("s-1", now=first_at)
    spend(first.purchase.user, 20, "more-gifts")

    answers = [notify(client, "apple", refund_of("s-1")).json() for _ in range(2)]

    assert [a["status"] for a in answers] == ["refused", "refused"]
    record = UnrecoveredStoreRefund.objects.get()
    assert record.id == first.id
    assert record.notifications == 3
    assert record.received_at == first_at < record.last_received_at
    # The figures stay those of the first notice, when the store gave the money back.
    assert (record.paid_coins_spent, record.bonus_coins_missing) == (30, 10)


def test_a_store_refund_past_the_window_is_recorded_with_its_reason():
    user = user_create()
    bundle, region = on_sale(coins=100, amount="0.99")
    bought = purchase(user, bundle, region, txn="old-1", when=timezone.now() - 20 * DAY)

    record = refused_store_refund("old-1")

    assert record.purchase == bought
    assert record.reason == UnrecoveredStoreRefund.Reason.REFUND_WINDOW_PASSED
    assert "14-day refund window" in record.message
    assert record.price == Money(Decimal("0.99"), "USD")
    assert (record.paid_coins_spent, record.bonus_coins_missing) == (0, 0)
    assert record.get_reason_display() == "Past the refund window"


def test_an_unknown_transaction_or_a_refund_taken_back_records_nothing(client):
    user = user_create()
    bundle, region = on_sale()
    purchase(user, bundle, region, txn="fine-1")

    unknown = notify(client, "google", refund_of("nope"))
    other_store = notify(client, "google", refund_of("fine-1"))
    refunded = notify(client, "apple", refund_of("fine-1"))

    assert [r.json()["status"] for r in (unknown, other_store, refunded)] == [
        "ignored",
        "ignored",
        "refunded",
    ]
    assert not UnrecoveredStoreRefund.objects.exists()


def test_a_later_refund_that_takes_the_coins_back_closes_the_record():
    bought = spent_purchase(spent=4)  # only bonus coins gone
    record = refused_store_refund("s-1")
    finance = staff_create(FINANCE)
    services.balance_adjust(
        user=bought.user,
        account_kind=LedgerAccount.Kind.BONUS_COINS,
        amount=4,
        reason="Goodwill",
        actor=finance,
        idempotency_key="goodwill",
    )

    result = store_refund("s-1")

    assert result.refunded
    record.refresh_from_db()
    assert record.is_resolved
    assert record.resolved_by is None
    assert record.resolution_note == (
        "Recovered: the purchase was refunded (store notification)."
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrency needs PostgreSQL (set DATABASE_URL)",
)
def test_one_refused_refund_delivered_by_many_at_once_is_one_record():
    spent_purchase(txn="race-1")
    body = json.dumps(refund_of("race-1")).encode()
    signature = sandbox_signature(body)
    count = 8
    start = threading.Barrier(count)
    answers, errors = [None] * count, []

    def deliver(i):
        try:
            start.wait()
            response = APIClient().post(
                "/api/v1/stores/apple/notifications/",
                data=body,
                content_type="application/json",
                HTTP_X_STORE_SIGNATURE=signature,
            )
            answers[i] = (response.status_code, response.json()["status"])
        except Exception as exc:  # noqa: BLE001 - reported below with the thread
            errors.append((i, exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert Counter(answers) == {(200, "refused"): count}
    record = UnrecoveredStoreRefund.objects.get()
    assert record.notifications == count
    assert (record.paid_coins_spent, record.bonus_coins_missing) == (30, 10)


# --- Resolving. ---


def test_only_finance_resolves():
    record = refused_store_refund_of_spent_purchase()

    for role in (SUPPORT, CATALOG_EDITORS):
        with pytest.raises(ServiceError) as refusal:
            services.unrecovered_store_refund_resolve(
                record=record, actor=staff_create(role), note="Written off"
            )
        assert refusal.value.status_code == 403

    record.refresh_from_db()
    assert not record.is_resolved


@pytest.mark.parametrize("note", ["", "   \n"])
def test_resolving_needs_a_note(note):
    record = refused_store_refund_of_spent_purchase()

    with pytest.raises(ServiceError) as refusal:
        services.unrecovered_store_refund_resolve(
            record=record, actor=staff_create(FINANCE), note=note
        )

    assert (refusal.value.status_code, refusal.value.field) == (400, "note")
    record.refresh_from_db()
    assert (record.resolved_at, record.resolved_by, record.resolution_note) == (
        None,
        None,
        "",
    )


def test_a_record_is_resolved_once():
    record = refused_store_refund_of_spent_purchase()
    first, second = staff_create(FINANCE), staff_create(FINANCE)

    resolved = services.unrecovered_store_refund_resolve(
        record=record, actor=first, note="  Written off: under the dispute threshold. "
    )
    with pytest.raises(ServiceError) as refusal:
        services.unrecovered_store_refund_resolve(
            record=record, actor=second, note="Disputed with the store"
        )

    assert (resolved.resolved_by, resolved.resolution_note) == (
        first,
        "Written off: under the dispute threshold.",
    )
    assert resolved.resolved_at is not None
    assert (refusal.value.status_code, refusal.value.code) == (409, "already_resolved")
    assert f"by {first}" in refusal.value.message
    record.refresh_from_db()
    assert (record.resolved_by, record.resolved_at) == (first, resolved.resolved_at)


def refused_store_refund_of_spent_purchase(txn="s-1", **kwargs):
    spent_purchase(txn=txn, **kwargs)
    return refused_store_refund(txn)


# --- The admin screen. ---


def test_finance_works_the_changelist_in_constant_queries(
    client, django_assert_max_num_queries
):
    client.force_login(staff_create(FINANCE))

    def listing(records):
        for n in range(records):
            refused_store_refund_of_spent_purchase(txn=f"q-{records}-{n}")
        with CaptureQueriesContext(connection) as captured:
            response = client.get(URL)
        assert response.status_code == 200
        return len(captured), len(response.context["cl"].result_list)

    few, shown_few = listing(1)
    many, shown_many = listing(5)

    assert (shown_few, shown_many) == (1, 6)
    assert few == many
    with django_assert_max_num_queries(few):
        client.get(URL)


def test_the_changelist_shows_what_finance_needs_and_filters_and_searches(client):
    open_one = refused_store_refund_of_spent_purchase(txn="s-open", username="bob")
    closed = refused_store_refund_of_spent_purchase(txn="s-closed")
    finance = staff_create(FINANCE)
    services.unrecovered_store_refund_resolve(
        record=closed, actor=finance, note="Written off"
    )
    client.force_login(finance)

    page = client.get(URL).content.decode()
    for shown in (
        "bob",
        "s-open",
        "App Store",
        "4.99",
        "30 paid + 10 bonus",
        "Coins already spent",
        f'href="/admin/wallets/purchase/{open_one.purchase_id}/change/"',
    ):
        assert shown in page, shown

    def ids(**query):
        return [r.id for r in client.get(URL, query).context["cl"].result_list]

    assert ids(resolved="no") == [open_one.id]
    assert ids(resolved="yes") == [closed.id]
    assert ids(reason="refund_window_passed") == []
    assert ids(store="apple") == [closed.id, open_one.id]
    assert ids(q="bob") == [open_one.id]
    assert ids(q="s-closed") == [closed.id]


def test_finance_resolves_selected_with_a_note_after_a_confirmation_page(client):
    record = refused_store_refund_of_spent_purchase()
    finance = staff_create(FINANCE)
    client.force_login(finance)
    selection = {"action": "resolve", "_selected_action": [record.id]}

    confirm = client.post(URL, selection)
    blank = client.post(URL, {**selection, "apply": "1", "note": " "})
    record.refresh_from_db()
    assert not record.is_resolved
    done = client.post(
        URL, {**selection, "apply": "1", "note": "Disputed with Apple"}, follow=True
    )

    assert b"Resolve 1" in confirm.content
    assert blank.status_code == 200
    assert blank.context["form"].errors == {"note": ["This field is required."]}
    assert "Resolved 1." in [str(m) for m in done.context["messages"]]
    record.refresh_from_db()
    assert (record.resolved_by, record.resolution_note) == (
        finance,
        "Disputed with Apple",
    )
    trail = AuditRecord.objects.filter(
        model="wallets.UnrecoveredStoreRefund", object_id=str(record.id)
    )
    assert trail.filter(operation="insert").count() == 1
    resolution = trail.get(operation="update")
    assert resolution.actor == finance
    assert "resolution_note" in resolution.changed_fields


def test_finance_resolves_one_from_its_page(client):
    record = refused_store_refund_of_spent_purchase()
    finance = staff_create(FINANCE)
    client.force_login(finance)
    resolve_url = f"{URL}{record.id}/resolve/"

    page = client.get(f"{URL}{record.id}/change/")
    form = client.get(resolve_url)
    blank = client.post(resolve_url, {"note": ""})
    done = client.post(resolve_url, {"note": "Written off"})
    again = client.post(resolve_url, {"note": "Twice"})

    assert resolve_url in page.content.decode()
    assert form.status_code == 200
    assert blank.context["form"].errors == {"note": ["This field is required."]}
    assert done.status_code == 302
    assert again.status_code == 200
    assert "already resolved" in again.context["form"].errors["__all__"][0]
    record.refresh_from_db()
    assert record.resolution_note == "Written off"
    assert resolve_url not in client.get(f"{URL}{record.id}/change/").content.decode()


def test_support_reads_but_does_not_resolve(client):
    record = refused_store_refund_of_spent_purchase()
    client.force_login(staff_create(SUPPORT))

    listing = client.get(URL)
    page = client.get(f"{URL}{record.id}/change/")
    action = client.post(
        URL,
        {
            "action": "resolve",
            "_selected_action": [record.id],
            "apply": "1",
            "note": "x",
        },
    )
    direct = client.post(f"{URL}{record.id}/resolve/", {"note": "x"})

    assert (listing.status_code, page.status_code) == (200, 200)
    assert f"{record.id}/resolve/" not in page.content.decode()
    assert action.status_code in (200, 302)
    assert direct.status_code == 403
    record.refresh_from_db()
    assert not record.is_resolved


@pytest.mark.parametrize("role", [FINANCE, "superuser"])
def test_nobody_adds_edits_or_deletes_one_in_the_admin(client, role):
    record = refused_store_refund_of_spent_purchase()
    user = (
        user_create(is_staff=True, is_superuser=True)
        if role == "superuser"
        else staff_create(role)
    )
    client.force_login(user)

    assert client.get(f"{URL}add/").status_code == 403
    assert client.post(f"{URL}{record.id}/delete/", {"post": "yes"}).status_code == 403
    client.post(f"{URL}{record.id}/change/", {"resolution_note": "edited"})
    delete_action = client.post(
        URL, {"action": "delete_selected", "_selected_action": [record.id]}
    )

    assert delete_action.status_code in (200, 302)
    record.refresh_from_db()
    assert record.resolution_note == ""
    assert UnrecoveredStoreRefund.objects.filter(id=record.id).exists()
