"""A store refund takes back what is left of the purchase; what was already spent
goes on record for finance."""

import datetime
import json
import logging
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.models import AuditRecord
from core import display
from core.errors import ServiceError
from wallets import ledger, services
from wallets.models import Transfer, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import paid_coin_liability, wallet_balances

from .concurrent import notification_delivered_at_once
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
    spend(user, spent)
    return bought


def store_refund(txn, store="apple", now=None):
    return services.store_refund_notification_handle(
        store=store, transaction_id=txn, now=now
    )


def partly_refunded(txn, **kwargs) -> UnrecoveredStoreRefund:
    result = store_refund(txn, **kwargs)
    assert result.refunded and result.shortfall is not None
    return UnrecoveredStoreRefund.objects.get(purchase__store_transaction_id=txn)


def transfers_of(bought):
    return sorted(
        Transfer.objects.filter(
            reference=f"purchase:{bought.id}",
            kind__in=[Transfer.Kind.REFUND, Transfer.Kind.BONUS_CLAWBACK],
        ).values_list("kind", "amount", "idempotency_key")
    )


# --- A store refund takes back what is left. ---


@pytest.mark.parametrize(
    ("spent", "paid_spent", "bonus_missing", "paid_back", "bonus_back"),
    [(40, 30, 10, 70, 0), (4, 0, 4, 100, 6)],
    ids=["paid and bonus spent", "bonus only"],
)
def test_a_spent_purchase_refunded_by_the_store_gives_back_what_is_left(
    client,
    caplog,
    django_capture_on_commit_callbacks,
    spent,
    paid_spent,
    bonus_missing,
    paid_back,
    bonus_back,
):
    bought = spent_purchase(spent=spent)
    caplog.set_level(logging.WARNING, logger="money")

    with django_capture_on_commit_callbacks(execute=True):
        response = notify(client, "apple", refund_of("s-1"))

    assert response.status_code == 200
    answer = response.json()
    record = UnrecoveredStoreRefund.objects.get()
    assert answer == {"status": "refunded_partly", "detail": record.description}
    # A loss for finance: logged as a warning, with what could not be taken back.
    (logged,) = [r.msg for r in caplog.records if r.name == "money"]
    assert logged["event"] == "purchase_refunded"
    assert logged["unrecovered"] == record.description
    assert logged["paid_coins_taken_back"] == paid_back
    assert (
        record.purchase,
        record.store,
        record.price,
        record.paid_coins_spent,
        record.bonus_coins_missing,
        record.paid_coins_taken_back,
        record.bonus_coins_taken_back,
        record.notifications,
        record.resolved_at,
    ) == (
        bought,
        "apple",
        Money(Decimal("4.99"), "USD"),
        paid_spent,
        bonus_missing,
        paid_back,
        bonus_back,
        1,
        None,
    )
    assert record.received_at == record.last_received_at
    # Everything of the purchase still there came back; the buyer has no coins left.
    bought.refresh_from_db()
    assert (bought.status, bought.refund_source, bought.paid_coins_remaining) == (
        "refunded",
        "store",
        0,
    )
    assert bought.refunded_at == record.received_at
    assert bought.refunded_by is None
    assert bought.refund_reason == f"Refunded by the apple store. {record.description}"
    assert wallet_balances(user=bought.user).coins == 0
    expected = [("refund", paid_back, f"purchase:{bought.id}:refund")]
    if bonus_back:
        expected.append(
            ("bonus_clawback", bonus_back, f"purchase:{bought.id}:bonus-clawback")
        )
    assert transfers_of(bought) == sorted(expected)
    assert ledger_reconcile().is_clean


def test_the_record_says_what_was_lost_and_what_came_back():
    spent_purchase(spent=40)

    record = partly_refunded("s-1")

    assert record.description == (
        "Not recovered, already spent: 30 of its 100 paid coins and 10 of its 10 "
        "bonus coins. Taken back: 70 paid and 0 bonus coins."
    )
    # USD 4.99 for 100 paid coins, 30 spent: 1.497, to the cent.
    assert record.paid_value_not_recovered == Money(Decimal("1.50"), "USD")


def test_a_partial_store_refund_leaves_no_liability_and_no_coins_to_spend():
    bought = spent_purchase(spent=40)  # 30 of its paid coins spent, 70 left
    other_bundle, region = on_sale(coins=100, amount="0.99")
    purchase(user_create(), other_bundle, region, txn="other-1")
    assert paid_coin_liability() == {"USD": Decimal("4.48")}  # 3.493 + 0.99

    partly_refunded("s-1")

    assert paid_coin_liability() == {"USD": Decimal("0.99")}
    assert ledger_reconcile().is_clean
    with pytest.raises(ledger.InsufficientBalance, match="0 available, 1 needed"):
        spend(bought.user, 1)
    assert wallet_balances(user=bought.user).coins == 0


def test_an_unused_purchase_past_the_window_is_refunded_in_full_by_the_store(client):
    user = user_create()
    bundle, region = on_sale(coins=100, amount="0.99", bonus_coins=5)
    bought = purchase(user, bundle, region, txn="old-1", when=timezone.now() - 20 * DAY)

    answer = notify(client, "apple", refund_of("old-1")).json()

    assert answer == {"status": "refunded"}
    bought.refresh_from_db()
    assert (bought.status, bought.refund_reason) == (
        "refunded",
        "Refunded by the apple store.",
    )
    assert transfers_of(bought) == [
        ("bonus_clawback", 5, f"purchase:{bought.id}:bonus-clawback"),
        ("refund", 100, f"purchase:{bought.id}:refund"),
    ]
    assert wallet_balances(user=user).coins == 0
    assert not UnrecoveredStoreRefund.objects.exists()


def test_a_spent_purchase_past_the_window_is_refunded_partly_by_the_store():
    user = user_create()
    bundle, region = on_sale(coins=100, amount="0.99")
    bought = purchase(user, bundle, region, txn="old-1", when=timezone.now() - 20 * DAY)
    spend(user, 100)

    record = partly_refunded("old-1")

    assert (record.purchase, record.paid_coins_spent, record.paid_coins_taken_back) == (
        bought,
        100,
        0,
    )
    # Nothing was left: the purchase is refunded without a transfer.
    assert transfers_of(bought) == []
    bought.refresh_from_db()
    assert bought.status == "refunded"
    assert ledger_reconcile().is_clean


def test_bonus_coins_held_from_elsewhere_are_taken_back_up_to_the_purchases():
    user = user_create()
    bundle, region = on_sale(coins=100, amount="4.99", bonus_coins=10)
    older = purchase(user, bundle, region, txn="old", when=timezone.now() - DAY)
    newer = purchase(user, bundle, region, txn="new")
    spend(user, 115)  # 20 bonus, then 95 paid of the older

    result = store_refund("old")

    assert (result.paid_taken_back, result.bonus_taken_back) == (5, 0)
    shortfall = result.shortfall
    assert (shortfall.paid_coins_spent, shortfall.bonus_coins_missing) == (95, 10)
    newer.refresh_from_db()
    assert newer.paid_coins_remaining == 100
    assert wallet_balances(user=user).coins == 100
    assert transfers_of(older) == [("refund", 5, f"purchase:{older.id}:refund")]


def test_an_unknown_transaction_or_a_full_refund_records_nothing(client):
    user = user_create()
    bundle, region = on_sale()
    purchase(user, bundle, region, txn="fine-1")

    unknown = notify(client, "google", refund_of("nope"))
    other_store = notify(client, "google", refund_of("fine-1"))
    refunded = notify(client, "apple", refund_of("fine-1"))

    assert [r.json() for r in (unknown, other_store, refunded)] == [
        {"status": "ignored"},
        {"status": "ignored"},
        {"status": "refunded"},
    ]
    assert not UnrecoveredStoreRefund.objects.exists()


# --- Repeats. ---


def test_a_store_that_notifies_again_moves_nothing_and_is_counted(client):
    bought = spent_purchase()
    first_at = timezone.now()
    first = partly_refunded("s-1", now=first_at)
    transfers = Transfer.objects.count()

    answers = [notify(client, "apple", refund_of("s-1")).json() for _ in range(2)]

    assert answers == [{"status": "already_refunded"}] * 2
    assert Transfer.objects.count() == transfers
    record = UnrecoveredStoreRefund.objects.get()
    assert record.id == first.id
    assert record.notifications == 3
    assert record.received_at == first_at < record.last_received_at
    assert (record.paid_coins_spent, record.bonus_coins_missing) == (30, 10)
    assert (record.paid_coins_taken_back, record.bonus_coins_taken_back) == (70, 0)
    # Counting repeats is no change worth an audit record: only the insert is there.
    trail = AuditRecord.objects.filter(
        model="wallets.UnrecoveredStoreRefund", object_id=str(record.id)
    )
    assert list(trail.values_list("operation", flat=True)) == ["insert"]
    bought.refresh_from_db()
    assert bought.refund_reason == f"Refunded by the apple store. {first.description}"


@pytest.mark.parametrize("source", ["finance", "request"])
def test_a_purchase_refunded_by_the_platform_then_by_the_store_is_a_loss_on_record(
    client, caplog, django_capture_on_commit_callbacks, source
):
    user = user_create()
    bundle, region = on_sale(coins=100, amount="4.99", bonus_coins=10)
    bought = purchase(user, bundle, region, txn="fin-1")
    services.purchase_refund(
        purchase=bought, actor=None, reason="Asked support", source=source
    )
    transfers = Transfer.objects.count()
    caplog.set_level(logging.WARNING, logger="money")

    with django_capture_on_commit_callbacks(execute=True):
        answer = notify(client, "apple", refund_of("fin-1")).json()

    # Nothing is left to take back: the platform's refund took every coin.
    assert Transfer.objects.count() == transfers
    bought.refresh_from_db()
    assert (bought.refund_source, bought.refund_reason) == (source, "Asked support")
    # But the buyer has USD 4.99 back twice: on record, open, for finance.
    record = UnrecoveredStoreRefund.objects.get()
    assert (record.purchase, record.refunded_twice, record.is_resolved) == (
        bought,
        True,
        False,
    )
    assert record.paid_value_not_recovered == Money(Decimal("4.99"), "USD")
    assert (record.paid_coins_taken_back, record.bonus_coins_taken_back) == (0, 0)
    assert record.description == (
        f"Refunded twice: refunded here on {display.when(bought.refunded_at)} "
        f"({bought.get_refund_source_display()}), then by App Store; the buyer got "
        "$4.99 back twice."
    )
    assert answer == {"status": "already_refunded", "detail": record.description}
    (logged,) = [r.msg for r in caplog.records if r.name == "money"]
    assert (logged["event"], logged["purchase_id"], logged["first_refund_source"]) == (
        "purchase_refunded_twice",
        bought.id,
        source,
    )
    assert ledger_reconcile().is_clean

    # The store's repeats only count on the record.
    assert notify(client, "apple", refund_of("fin-1")).json() == answer
    record.refresh_from_db()
    assert record.notifications == 2
    assert UnrecoveredStoreRefund.objects.count() == 1


def test_a_purchase_the_store_refunded_in_full_repeats_without_a_record(client):
    user = user_create()
    bundle, region = on_sale()
    purchase(user, bundle, region, txn="st-1")
    assert notify(client, "apple", refund_of("st-1")).json() == {"status": "refunded"}

    again = notify(client, "apple", refund_of("st-1")).json()

    assert again == {"status": "already_refunded"}
    assert not UnrecoveredStoreRefund.objects.exists()


def test_the_database_keeps_a_double_refund_open_until_finance_resolves_it():
    user = user_create()
    bundle, region = on_sale()
    bought = purchase(user, bundle, region, txn="fin-2")
    services.purchase_refund(
        purchase=bought, actor=None, reason="Asked support", source="finance"
    )
    record = store_refund("fin-2").shortfall
    assert record.refunded_twice

    # Only a person closes it: never the platform, as it closes a hold's full recovery.
    with pytest.raises(IntegrityError), transaction.atomic():
        UnrecoveredStoreRefund.objects.filter(id=record.id).update(
            resolved_at=timezone.now(), resolution_note="Recovered"
        )
    # And a double refund never claims coins were spent.
    with pytest.raises(IntegrityError), transaction.atomic():
        UnrecoveredStoreRefund.objects.filter(id=record.id).update(paid_coins_spent=1)


def test_finance_cannot_refund_again_what_the_store_refunded_partly():
    record = partly_refunded_purchase()
    transfers = Transfer.objects.count()

    again = services.purchase_refund(
        purchase=record.purchase, actor=None, reason="Asked again", source="finance"
    )

    assert not again.refunded
    assert Transfer.objects.count() == transfers
    record.refresh_from_db()
    assert not record.is_resolved


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrency needs PostgreSQL (set DATABASE_URL)",
)
def test_one_partial_refund_delivered_by_many_at_once_is_taken_back_once():
    bought = spent_purchase(txn="race-1")
    body = json.dumps(refund_of("race-1")).encode()
    count = 8

    answers = notification_delivered_at_once(body, count)

    assert answers == {
        (200, "refunded_partly"): 1,
        (200, "already_refunded"): count - 1,
    }
    record = UnrecoveredStoreRefund.objects.get()
    assert record.notifications == count
    assert (record.paid_coins_spent, record.bonus_coins_missing) == (30, 10)
    assert transfers_of(bought) == [("refund", 70, f"purchase:{bought.id}:refund")]
    assert ledger_reconcile().is_clean


# --- Never deleted, never empty. ---


def test_reconciliation_finds_a_partial_refund_whose_figures_do_not_add_up():
    record = partly_refunded_purchase()  # 100 paid: 30 spent, 70 taken back
    assert ledger_reconcile().is_clean

    UnrecoveredStoreRefund.objects.filter(id=record.id).update(paid_coins_spent=29)

    run = ledger_reconcile()
    assert run.problems == [
        f"Refunded purchase {record.purchase_id}: 100 paid coins, but 70 taken back "
        "and 29 recorded as spent."
    ]


def test_a_record_is_never_deleted():
    record = partly_refunded_purchase()

    with pytest.raises(TypeError, match="never deleted"):
        record.delete()
    with pytest.raises(TypeError, match="never deleted"):
        UnrecoveredStoreRefund.objects.filter(id=record.id).delete()

    assert UnrecoveredStoreRefund.objects.filter(id=record.id).exists()


def test_the_database_refuses_a_record_with_nothing_lost():
    record = partly_refunded_purchase()

    with pytest.raises(IntegrityError), transaction.atomic():
        UnrecoveredStoreRefund.objects.filter(id=record.id).update(
            paid_coins_spent=0, bonus_coins_missing=0
        )

    record.refresh_from_db()
    assert (record.paid_coins_spent, record.bonus_coins_missing) == (30, 10)


# --- Resolving. ---


def test_only_finance_resolves():
    record = partly_refunded_purchase()

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
    record = partly_refunded_purchase()

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
    record = partly_refunded_purchase()
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


def partly_refunded_purchase(txn="s-1", **kwargs):
    spent_purchase(txn=txn, **kwargs)
    return partly_refunded(txn)


# --- The admin screen. ---


def test_finance_works_the_changelist_in_constant_queries(
    client, django_assert_max_num_queries
):
    client.force_login(staff_create(FINANCE))

    def listing(records):
        for n in range(records):
            partly_refunded_purchase(txn=f"q-{records}-{n}")
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
    open_one = partly_refunded_purchase(txn="s-open", username="bob")
    closed = partly_refunded_purchase(txn="s-closed")
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
        '<td class="field-coins_not_recovered">30 + 10 bonus</td>',
        '<td class="field-coins_taken_back">70 + 0 bonus</td>',
        "1.50",
        f'href="/admin/wallets/purchase/{open_one.purchase_id}/change/"',
    ):
        assert shown in page, shown

    def ids(**query):
        return [r.id for r in client.get(URL, query).context["cl"].result_list]

    assert ids(resolved="no") == [open_one.id]
    assert ids(resolved="yes") == [closed.id]
    assert ids(store="apple") == [closed.id, open_one.id]
    assert ids(q="bob") == [open_one.id]
    assert ids(q="s-closed") == [closed.id]


def test_finance_resolves_selected_with_a_note_after_a_confirmation_page(client):
    record = partly_refunded_purchase()
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
    record = partly_refunded_purchase()
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
    record = partly_refunded_purchase()
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
    # Support has no actions: the list is shown again, no confirmation page.
    assert action.status_code == 200
    assert "cl" in action.context and b"Resolve 1" not in action.content
    assert direct.status_code == 403
    record.refresh_from_db()
    assert not record.is_resolved


@pytest.mark.parametrize("role", [FINANCE, "superuser"])
def test_nobody_adds_edits_or_deletes_one_in_the_admin(client, role):
    record = partly_refunded_purchase()
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
        URL,
        {"action": "delete_selected", "_selected_action": [record.id]},
        follow=True,
    )

    assert delete_action.redirect_chain == [(URL, 302)]
    assert [str(m) for m in delete_action.context["messages"]] == [
        "No action selected."
    ]
    record.refresh_from_db()
    assert record.resolution_note == ""
    assert UnrecoveredStoreRefund.objects.filter(id=record.id).exists()


@pytest.mark.parametrize("object_id", ["abc", "999999", "1%2F2"])
def test_resolving_a_record_that_does_not_exist_is_a_404(client, object_id):
    partly_refunded_purchase()
    client.force_login(staff_create(FINANCE))

    page = client.get(f"{URL}{object_id}/resolve/")
    posted = client.post(f"{URL}{object_id}/resolve/", {"note": "Written off"})

    assert (page.status_code, posted.status_code) == (404, 404)
    assert not UnrecoveredStoreRefund.objects.filter(resolved_at__isnull=False).exists()
