"""Who made a change: the admin's or the API token's user, never a previous one."""

import datetime

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import CATALOG_EDITORS, FINANCE
from audit import context
from audit.context import acting_as
from audit.models import AuditRecord
from catalog.models import Gift, GiftPriceChange
from catalog.tests.factories import gift_create
from gifting.tests.factories import rich_creator
from payouts.models import Payout, PayoutRules
from payouts.services import payout_request
from wallets.tests.factories import staff_create

from .helpers import actor_in_connection, amount, dec, records

RULES = "/admin/payouts/payoutrules/"


def rules_form(rules, **changes):
    fields = (
        "currency",
        "minimum_cashout",
        "fee_fixed",
        "fee_percent",
        "daily_maximum",
        "second_approval_from",
        "method_cooloff_days",
    )
    return {field: str(getattr(rules, field)) for field in fields} | changes


@pytest.mark.django_db
def test_an_admin_change_is_recorded_with_the_staff_member(client):
    finance = staff_create(FINANCE)
    client.force_login(finance)
    rules = PayoutRules.objects.get(currency="USD")

    response = client.post(
        f"{RULES}{rules.pk}/change/", rules_form(rules, minimum_cashout="120.00")
    )

    assert response.status_code == 302
    (record,) = records("payouts.PayoutRules")
    assert record.actor == finance
    assert record.actor_label == f"POST {RULES}{rules.pk}/change/"
    assert record.changed_fields == ["minimum_cashout"]
    assert amount(record.after["minimum_cashout"]) == dec("120.00")


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["queue", "page"])
def test_an_admin_approval_is_recorded_with_the_approver(client, where):
    finance = staff_create(FINANCE)
    payout = payout_request(
        creator=rich_creator(diamonds=30_000), diamond_units=None, idempotency_key="p"
    ).payout
    client.force_login(finance)

    # A new creator: both ways confirm the flag by name.
    if where == "queue":
        response = client.post(
            "/admin/payouts/payout/",
            {
                "action": "approve",
                "_selected_action": [payout.pk],
                "apply": "1",
                "risks_reviewed": "on",
            },
        )
    else:
        response = client.post(
            f"/admin/payouts/payout/{payout.pk}/change/",
            {
                "decision": "approve",
                "status_seen": "requested",
                "risks_reviewed": "on",
                "flags_seen": "new creator",
            },
        )

    assert response.status_code == 302
    payout.refresh_from_db()
    assert payout.status == Payout.Status.APPROVED
    (approval,) = records("payouts.Payout", operation="update")
    assert (approval.before["status"], approval.after["status"]) == (
        "requested",
        "approved",
    )
    assert approval.after["first_approver_id"] == finance.pk
    assert approval.actor == finance


@pytest.mark.django_db
def test_an_api_request_is_recorded_with_the_token_user(api_client):
    creator = rich_creator(diamonds=30_000)
    token = Token.objects.create(user=creator.user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api_client.post(
        "/api/v1/payouts/",
        {"diamonds": "20000"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cash-1",
    )

    assert response.status_code == 201
    (requested,) = records("payouts.Payout", operation="insert")
    assert requested.after["status"] == "requested"
    assert requested.actor == creator.user
    assert requested.actor_label == "POST /api/v1/payouts/"


@pytest.mark.django_db
def test_the_actor_does_not_leak_to_the_next_request_or_the_next_write(
    client, api_client
):
    finance = staff_create(FINANCE)
    rules = PayoutRules.objects.get(currency="USD")
    client.force_login(finance)
    client.post(f"{RULES}{rules.pk}/change/", rules_form(rules, fee_fixed="0.30"))
    assert actor_in_connection() == (None, None)

    # The next request on the same connection is someone else's.
    creator = rich_creator(diamonds=30_000)
    api_client.force_authenticate(creator.user)
    api_client.post(
        "/api/v1/payouts/",
        {"diamonds": "20000"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cash-2",
    )
    # And a write outside any request is nobody's.
    gift = gift_create()
    Gift.objects.filter(pk=gift.pk).update(coin_price=99)

    assert records("payouts.PayoutRules")[-1].actor == finance
    assert records("payouts.Payout", operation="insert")[-1].actor == creator.user
    (price,) = records("catalog.Gift", operation="update")
    assert (price.actor, price.actor_label) == (None, "")
    (created,) = records("catalog.Gift", operation="insert")
    assert (created.actor, created.actor_label) == (None, "")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_committed_changes_carry_their_actor_and_leave_none_behind(client):
    finance = staff_create(FINANCE)
    rules = PayoutRules.objects.get(currency="USD")
    client.force_login(finance)

    client.post(f"{RULES}{rules.pk}/change/", rules_form(rules, fee_fixed="0.40"))
    PayoutRules.objects.filter(pk=rules.pk).update(fee_fixed="0.45")

    first, second = records("payouts.PayoutRules")[-2:]
    assert (first.actor, amount(first.after["fee_fixed"])) == (finance, dec("0.40"))
    assert (second.actor, second.actor_label) == (None, "")
    assert actor_in_connection() == (None, None)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_only_flush_empties_the_audit():
    Gift.objects.filter(pk=gift_create().pk).update(coin_price=5)
    assert AuditRecord.objects.exists()
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditrecord")

    # Sequences kept: the rows the next tests reload keep their ids (flush would
    # otherwise restart them, and new rows would collide with reloaded ones).
    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)

    assert not AuditRecord.objects.exists()


# --- Tasks act on behalf of whoever queued them. ---


def _price_change_due(coin_price=12):
    gift = gift_create(coin_price=10)
    GiftPriceChange.objects.create(
        gift=gift,
        coin_price=coin_price,
        effective_at=timezone.now() - datetime.timedelta(days=1),
    )
    return gift


@pytest.mark.django_db
def test_a_task_run_in_place_acts_for_the_user_who_queued_it(eager_celery):
    from catalog.tasks import apply_due_price_changes

    editor = staff_create(CATALOG_EDITORS)
    _price_change_due()

    with acting_as(user=editor, label="POST /admin/catalog/giftpricechange/"):
        apply_due_price_changes.delay()

    (price,) = records("catalog.Gift", operation="update")
    assert (price.actor, price.actor_label) == (
        editor,
        "task:catalog.apply_due_price_changes",
    )


@pytest.mark.django_db
def test_a_queued_task_carries_its_user_to_the_worker():
    from catalog.tasks import apply_due_price_changes

    editor = staff_create(CATALOG_EDITORS)
    headers = {}
    with acting_as(user=editor):
        context.task_published(headers=headers)
    context.task_published(headers=(nobody := {}))
    assert (headers, nobody) == ({context.USER_HEADER: editor.pk}, {})

    # On a worker the message's headers are the request's; nobody acts there yet.
    _price_change_due()
    apply_due_price_changes.push_request(is_eager=False, **headers)
    try:
        context.task_started(task_id="t-1", task=apply_due_price_changes)
        apply_due_price_changes.run()
    finally:
        context.task_finished(task_id="t-1")
        apply_due_price_changes.pop_request()

    (price,) = records("catalog.Gift", operation="update")
    assert (price.actor, price.actor_label) == (
        editor,
        "task:catalog.apply_due_price_changes",
    )
    assert context.current_actor() is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_editors_import_job_is_recorded_as_theirs(client, eager_celery):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.models import BundlePrice
    from catalog.tests.factories import bundle_create, region_create

    region_create("US")
    bundle_create(sku="coins_100")
    editor = staff_create(CATALOG_EDITORS)
    client.force_login(editor)
    content = b"sku,region,channel,price,currency\ncoins_100,US,app,1.99,USD\n"

    # Committed for real: the job is queued on commit, inside the upload request.
    response = client.post(
        "/admin/catalog/importjob/upload/",
        {"kind": "bundle_prices", "file": SimpleUploadedFile("p.csv", content)},
    )

    assert response.status_code == 302
    (price,) = records("catalog.BundlePrice", operation="insert")
    assert price.object_id == str(BundlePrice.objects.get().pk)
    assert (price.actor, price.actor_label) == (editor, "task:catalog.run_import_job")
