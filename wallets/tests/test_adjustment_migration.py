import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.roles import FINANCE
from audit import db as audit_db
from wallets.models import BalanceAdjustment
from wallets.tests.factories import staff_create, user_create

BEFORE = [("wallets", "0009_home_regions")]
AFTER = [("wallets", "0010_balance_adjustments_four_eyes")]


def _old_adjustment(apps, user, actor, amount, key):
    """An adjustment as the old service wrote it: applied at once, alone."""
    LedgerAccount = apps.get_model("wallets", "LedgerAccount")
    Transfer = apps.get_model("wallets", "Transfer")
    Adjustment = apps.get_model("wallets", "BalanceAdjustment")
    account, _ = LedgerAccount.objects.get_or_create(
        owner_id=user.id, kind="diamonds", defaults={"unit": "diamond"}
    )
    system = LedgerAccount.objects.get(owner=None, kind="diamond_adjustments")
    transfer = Transfer.objects.create(
        debit_account=system,
        credit_account=account,
        unit="diamond",
        amount=amount,
        kind="adjustment",
        reference=f"adjustment:{user.id}",
        idempotency_key=f"adjustment:{key}",
    )
    return Adjustment.objects.create(
        user_id=user.id,
        account_kind="diamonds",
        amount=amount,
        balance_before=0,
        balance_after=amount,
        reason="old",
        actor_id=actor.id,
        transfer=transfer,
    )


def _migrate(target):
    """The schema and data steps alone: no signals, so no audit triggers rebuilt."""
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return MigrationExecutor(connection).loader.project_state(target).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_old_adjustments_become_approved_by_their_actor_and_back():
    finance, creator = staff_create(FINANCE), user_create()
    try:
        old_apps = _migrate(BEFORE)
        # The report's self-credit: 300,000,000 units to the finance user's own account.
        own = _old_adjustment(old_apps, finance, finance, 300_000_000, "k-own")
        other = _old_adjustment(old_apps, creator, finance, 400_000_000, "k-other")

        _migrate(AFTER)
        migrated = {a.id: a for a in BalanceAdjustment.objects.all()}
        for adjustment, key in ((own, "k-own"), (other, "k-other")):
            row = migrated[adjustment.id]
            assert (row.status, row.decided_by_id, row.before_four_eyes) == (
                BalanceAdjustment.Status.APPROVED,
                finance.id,
                True,
            )
            assert (row.decided_at, row.idempotency_key) == (row.created_at, key)
        assert finance.has_perm("wallets.approve_balanceadjustment")

        Old = _migrate(BEFORE).get_model("wallets", "BalanceAdjustment")
        rows = Old.objects.order_by("id")
        assert [(r.id, r.amount) for r in rows] == [
            (own.id, 300_000_000),
            (other.id, 400_000_000),
        ]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        audit_db.install()
