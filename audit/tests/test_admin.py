"""Finance reads the audit in the admin; nobody changes or deletes a record there."""

import datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import CaptureQueriesContext

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.context import acting_as
from audit.models import AuditRecord
from catalog.models import Gift
from catalog.tests.factories import gift_create
from payouts.models import PayoutRules
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db
AUDIT = "/admin/audit/auditrecord/"


@pytest.fixture
def finance_client(client):
    client.force_login(staff_create(FINANCE))
    return client


@pytest.fixture
def price_change():
    gift = gift_create(slug="rose", coin_price=1)
    Gift.objects.filter(pk=gift.pk).update(coin_price=3)
    return AuditRecord.objects.get(model="catalog.Gift", operation="update")


def test_finance_lists_records_and_reads_a_readable_diff(finance_client, price_change):
    listed = finance_client.get(AUDIT)
    page = finance_client.get(f"{AUDIT}{price_change.pk}/change/")

    assert listed.status_code == 200
    assert price_change in listed.context["cl"].result_list
    assert page.status_code == 200
    content = page.content.decode()
    assert "Before → after" in content
    assert "<th>coin_price</th><td>1</td><td>3</td>" in content
    assert f'href="/admin/catalog/gift/{price_change.object_id}/change/"' in content
    # Read-only: no save button, no delete link.
    assert 'name="_save"' not in content
    assert "/delete/" not in content


def test_the_diff_puts_the_changed_field_first_with_before_and_after(price_change):
    from audit.admin import AuditRecordAdmin

    html = AuditRecordAdmin(AuditRecord, None).diff(price_change)

    first_row = html.split("<tbody>")[1].split("</tr>")[0]
    assert "coin_price" in first_row
    assert "<td>1</td><td>3</td>" in first_row
    assert "background" in first_row


@pytest.mark.parametrize("role", ["finance", "superuser"])
def test_nobody_may_change_or_delete_a_record_in_the_admin(client, role, price_change):
    user = (
        user_create(is_staff=True, is_superuser=True)
        if role == "superuser"
        else staff_create(FINANCE)
    )
    client.force_login(user)
    url = f"{AUDIT}{price_change.pk}"

    assert client.post(f"{url}/change/", {"actor_label": "me"}).status_code == 403
    assert client.get(f"{url}/delete/").status_code == 403
    assert client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{AUDIT}add/").status_code == 403
    bulk = client.post(
        AUDIT, {"action": "delete_selected", "_selected_action": [price_change.pk]}
    )
    assert bulk.status_code in (200, 302)
    price_change.refresh_from_db()
    assert price_change.actor_label == ""
    assert AuditRecord.objects.filter(pk=price_change.pk).exists()


@pytest.mark.parametrize("role", [CATALOG_EDITORS, SUPPORT])
def test_other_staff_cannot_read_the_audit(client, role, price_change):
    client.force_login(staff_create(role))

    assert client.get(AUDIT).status_code == 403
    assert client.get(f"{AUDIT}{price_change.pk}/change/").status_code == 403


def test_finance_has_view_and_nothing_else():
    codenames = set(
        Group.objects.get(name=FINANCE)
        .permissions.filter(content_type__app_label="audit")
        .values_list("codename", flat=True)
    )
    assert codenames == {"view_auditrecord"}


def test_filters_and_search_find_a_rows_changes(finance_client, price_change):
    rules = PayoutRules.objects.get(currency="USD")
    PayoutRules.objects.filter(pk=rules.pk).update(method_cooloff_days=7)
    finance = staff_create(FINANCE)
    with acting_as(user=finance):
        Gift.objects.filter(pk=price_change.object_id).update(coin_price=4)

    def listed(query):
        response = finance_client.get(f"{AUDIT}?{query}")
        assert response.status_code == 200
        return {record.model for record in response.context["cl"].result_list}

    assert listed("model=catalog.Gift&operation=update") == {"catalog.Gift"}
    assert listed(f"model=payouts.PayoutRules&q={rules.pk}") == {"payouts.PayoutRules"}
    assert listed("operation=insert") == {"catalog.Gift"}
    assert listed("made_by=unknown&operation=update") == {
        "catalog.Gift",
        "payouts.PayoutRules",
    }
    assert listed("made_by=command") == set()
    assert listed(f"actor={finance.pk}") == {"catalog.Gift"}
    since_2000 = urlencode({"at__gte": "2000-01-01 00:00:00+00:00"})
    before_2000 = urlencode({"at__lt": "2000-01-01 00:00:00+00:00"})
    assert listed(since_2000) == {"catalog.Gift", "payouts.PayoutRules"}
    assert listed(before_2000) == set()


def test_an_audited_rows_page_links_to_its_audit_trail_for_finance_only(client):
    gift = gift_create()
    link = f"{AUDIT}?model=catalog.Gift&amp;q={gift.pk}"

    client.force_login(staff_create(FINANCE))
    assert link in client.get(f"/admin/catalog/gift/{gift.pk}/change/").content.decode()

    client.force_login(staff_create(CATALOG_EDITORS))
    page = client.get(f"/admin/catalog/gift/{gift.pk}/change/")
    assert page.status_code == 200
    assert "Audit trail" not in page.content.decode()


def test_the_list_takes_the_same_queries_however_many_records(finance_client):
    def queries_for(count):
        for _ in range(count - AuditRecord.objects.count()):
            # Each by another user: the list must not fetch actors one by one.
            AuditRecord.objects.create(
                model="catalog.Gift",
                object_id="1",
                operation="update",
                actor=user_create(),
            )
        finance_client.get(AUDIT)
        with CaptureQueriesContext(connection) as captured:
            response = finance_client.get(AUDIT)
        assert len(response.context["cl"].result_list) == count
        return len(captured)

    assert queries_for(2) == queries_for(20)


def test_made_by_task_lists_tasks_with_or_without_the_user_who_queued_them(
    finance_client,
):
    editor = staff_create(CATALOG_EDITORS)
    queued, beat, edited = (gift_create(coin_price=n) for n in (1, 2, 3))
    with acting_as(user=editor, label="task:catalog.run_import_job"):
        Gift.objects.filter(pk=queued.pk).update(coin_price=11)
    with acting_as(label="task:catalog.apply_due_price_changes"):
        Gift.objects.filter(pk=beat.pk).update(coin_price=12)
    with acting_as(user=editor, label="POST /admin/catalog/gift/"):
        Gift.objects.filter(pk=edited.pk).update(coin_price=13)

    def listed(made_by):
        response = finance_client.get(f"{AUDIT}?operation=update&made_by={made_by}")
        assert response.status_code == 200
        return {record.object_id for record in response.context["cl"].result_list}

    assert listed("task") == {str(queued.pk), str(beat.pk)}
    assert listed("user") == {str(edited.pk)}


def test_the_diff_shows_an_amount_kept_in_minor_units_as_the_amount():
    from audit.admin import AuditRecordAdmin

    PayoutRules.objects.filter(currency="USD").update(
        minimum_cashout=Decimal("1008.45")
    )
    (record,) = AuditRecord.objects.filter(model="payouts.PayoutRules")

    html = AuditRecordAdmin(AuditRecord, None).diff(record)

    assert record.after["minimum_cashout"] == 100845
    assert "<td>100.00</td><td>1008.45</td>" in html
    # Not an amount: the percent is shown as stored.
    assert "<th>fee_percent</th><td>1" in html


def test_a_record_written_before_amounts_moved_to_minor_units_reads_as_written():
    from audit.admin import AuditRecordAdmin

    switched = MigrationRecorder.Migration.objects.get(
        app="payouts", name__endswith="_amounts_in_minor_units"
    ).applied
    old = AuditRecord.objects.create(
        at=switched - datetime.timedelta(days=1),
        model="payouts.PayoutRules",
        object_id="1",
        operation=AuditRecord.Operation.UPDATE,
        # SQLite kept 100.00 as the integer 100, PostgreSQL's JSON as 100.00.
        before={"minimum_cashout": 100},
        after={"minimum_cashout": 120.5},
        changed_fields=["minimum_cashout"],
    )

    html = AuditRecordAdmin(AuditRecord, None).diff(old)

    assert "<td>100</td><td>120.5</td>" in html
