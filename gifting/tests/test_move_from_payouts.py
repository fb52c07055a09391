"""Moving the gifting models out of `payouts` (and the dashboard into `reports`)
keeps every table and row, every permission, the nightly schedule and the audit
trail, on both databases; and it can be reversed."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import PeriodicTask

from accounts import roles
from audit.models import AuditRecord
from gifting import services as gifting_services
from gifting.models import CreatorProfile, GiftSend, LevelChange, StreamGifter
from gifting.tests.factories import funded_sender, rich_creator, rose
from payouts import services as payout_services
from payouts.models import Payout, PayoutRules
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import user_create

MOVED = ("reports", "gifting")


def _old_layout():
    """Unapply the move (and only it): the models are back in `payouts`."""
    executor = MigrationExecutor(connection)
    executor.migrate([(app, None) for app in MOVED])
    loader = MigrationExecutor(connection).loader
    applied = {key for key in loader.applied_migrations if key[0] == "payouts"}
    assert ("payouts", "0011_gifting_and_reports_move_out") not in applied
    return loader.project_state([("payouts", "0010_amounts_in_minor_units")]).apps


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (CreatorProfile, GiftSend, LevelChange, StreamGifter, Payout)
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_old_layouts_rows_permissions_schedule_and_trail_survive_the_move(
    client,
):
    # Real money through the services: a gift, a payout on hold, their transfers.
    PayoutRules.objects.update_or_create(
        currency="USD", defaults={"second_approval_from": 0}
    )
    creator = rich_creator(diamonds=60_000)
    sender = funded_sender(coins=500)
    gifting_services.gift_send(
        sender=sender,
        creator=creator,
        gift=rose(),
        quantity=3,
        placement="live",
        stream_id="s-1",
        region=None,
        idempotency_key="g-1",
    )
    payout_services.payout_request(
        creator=creator, diamond_units=None, idempotency_key="p-1"
    )
    before = _counts()

    old = _old_layout()
    old_ct = old.get_model("contenttypes", "ContentType")
    assert old_ct.objects.filter(app_label="payouts", model="giftsend").exists()
    assert not old_ct.objects.filter(app_label="gifting").exists()
    # What the old layout held and did: a level change written by its models, a
    # user granted a permission by hand, the nightly task under its old name, an
    # audit record under the old label.
    old_profile = old.get_model("payouts", "CreatorProfile").objects.get(id=creator.id)
    old.get_model("payouts", "LevelChange").objects.create(
        creator=old_profile,
        from_level=old_profile.level,
        to_level=old_profile.level,
        reason="checked before the move",
    )
    clerk = user_create(is_staff=True)
    old_perm = old.get_model("auth", "Permission").objects.get(
        content_type__app_label="payouts", codename="view_giftsend"
    )
    old.get_model("accounts", "User").objects.get(id=clerk.id).user_permissions.add(
        old_perm
    )
    PeriodicTask.objects.filter(task="gifting.recompute_creator_levels").update(
        task="payouts.recompute_creator_levels"
    )
    assert PeriodicTask.objects.filter(task="payouts.recompute_creator_levels").exists()
    AuditRecord.objects.create(
        model="payouts.CreatorProfile",
        object_id=str(creator.id),
        operation=AuditRecord.Operation.UPDATE,
        changed_fields=["display_name"],
    )
    view_ids = set(
        Permission.objects.filter(
            content_type__app_label="payouts",
            codename__in=["view_giftsend", "view_moneydashboard"],
        ).values_list("id", flat=True)
    )
    assert len(view_ids) == 2

    call_command("migrate", verbosity=0)

    # No row moved or was lost, and the ledger still adds up.
    assert _counts() == {**before, "LevelChange": before["LevelChange"] + 1}
    assert GiftSend.objects.get(idempotency_key="g-1").coins == 3
    assert ledger_reconcile().is_clean
    # The same permission rows, relabelled: what roles and users were granted holds.
    assert (
        set(
            Permission.objects.filter(
                codename__in=["view_giftsend", "view_moneydashboard"]
            ).values_list("id", flat=True)
        )
        == view_ids
    )
    clerk.refresh_from_db()
    assert clerk.has_perm("gifting.view_giftsend")
    finance = Group.objects.get(name=roles.FINANCE)
    granted = {
        f"{p.content_type.app_label}.{p.codename}" for p in finance.permissions.all()
    }
    assert {
        "gifting.view_creatorprofile",
        "gifting.change_creatorlevel",
        "gifting.unmask_creatorprofile",
        "reports.view_moneydashboard",
    } <= granted
    assert not any(
        label.startswith("payouts.") and "creator" in label for label in granted
    )
    assert PeriodicTask.objects.filter(task="gifting.recompute_creator_levels").exists()
    assert not PeriodicTask.objects.filter(
        task__startswith="payouts.recompute"
    ).exists()

    # The creator's audit trail shows the records from before the move too.
    client.force_login(user_create(is_superuser=True, is_staff=True))
    page = client.get(
        "/admin/audit/auditrecord/",
        {"model": "gifting.CreatorProfile", "q": str(creator.id)},
    )
    labels = {record.model for record in page.context["cl"].result_list}
    assert "payouts.CreatorProfile" in labels


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_move_reverses_and_applies_again():
    creator = rich_creator(diamonds=1)
    _old_layout()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM payouts_creatorprofile")
        assert cursor.fetchone()[0] >= 1
    call_command("migrate", verbosity=0)
    assert CreatorProfile.objects.filter(id=creator.id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "old, new",
    [
        ("/admin/payouts/creatorprofile/", "/admin/gifting/creatorprofile/"),
        (
            "/admin/payouts/creatorprofile/7/change/?_changelist_filters=level",
            "/admin/gifting/creatorprofile/7/change/?_changelist_filters=level",
        ),
        (
            "/admin/payouts/giftsend/?stream_id=s",
            "/admin/gifting/giftsend/?stream_id=s",
        ),
        ("/admin/payouts/creatorlevel/", "/admin/gifting/creatorlevel/"),
        ("/admin/payouts/moneydashboard/", "/admin/reports/moneydashboard/"),
    ],
)
def test_bookmarked_admin_addresses_redirect_to_the_new_ones(client, old, new):
    response = client.get(old)
    assert response.status_code == 301
    assert response["Location"] == new


@pytest.mark.django_db
def test_the_payout_screens_stay_where_they_were(admin_client):
    assert admin_client.get("/admin/payouts/payout/").status_code == 200
    assert admin_client.get("/admin/payouts/payoutrules/").status_code == 200
