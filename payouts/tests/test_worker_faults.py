"""200 approved payouts through a real Celery worker that is killed partway."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from gifting.tests.factories import rich_creator
from payouts import services, tasks
from payouts.models import Payout, SandboxPayoutRecord
from wallets.models import DIAMOND_SCALE
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import staff_create

ROOT = Path(__file__).resolve().parents[2]
PAYOUTS = 200

pytestmark = [
    # Serialized rollback puts the migrations' data (roles, terms) back afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"]
        or settings.CELERY_TASK_ALWAYS_EAGER,
        reason="needs PostgreSQL and a broker (DATABASE_URL, CELERY_BROKER_URL)",
    ),
    pytest.mark.xdist_group("stack"),  # one stack at a time (soak_helpers.REAL_STACK)
]


def start_worker(database_url: str, output=subprocess.DEVNULL) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PAYOUT_BATCH_SIZE": "10",
        "PAYOUT_SANDBOX_MS_PER_ITEM": "15",
        "PAYOUT_STUCK_AFTER_SECONDS": "3",
        "CELERY_VISIBILITY_TIMEOUT": "5",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            "2",
            "--loglevel=warning",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else output,
    )


def kill(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_every_payout_is_paid_exactly_once_although_the_worker_is_killed():
    celery_app.control.purge()
    finance = staff_create("Finance")
    for n in range(PAYOUTS):
        creator = rich_creator(diamonds=30_000)
        payout = services.payout_request(
            creator=creator,
            diamond_units=20_000 * DIAMOND_SCALE,
            idempotency_key=f"{n}",
        ).payout
        Payout.objects.filter(id=payout.id).update(
            status=Payout.Status.APPROVED, first_approver=finance
        )
    database = connection.settings_dict
    database_url = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}"
    )

    worker = start_worker(database_url)
    try:
        tasks.dispatch_payouts.delay()
        some_paid = wait_for(
            lambda: Payout.objects.filter(status=Payout.Status.PAID).count() >= 20, 60
        )
        assert some_paid, "the first worker paid nothing"
        kill(worker)
        left = Payout.objects.exclude(status=Payout.Status.PAID).count()
        assert left > 0, "the worker finished before it could be killed"

        worker = start_worker(database_url)
        all_paid = False
        for _ in range(40):
            # As beat does every minute: hand approved and stuck payouts out again.
            tasks.dispatch_payouts.delay()
            if wait_for(lambda: not Payout.objects.exclude(status="paid").exists(), 3):
                all_paid = True
                break
    finally:
        kill(worker)

    assert all_paid, Payout.objects.exclude(status=Payout.Status.PAID).count()
    records = SandboxPayoutRecord.objects.all()
    assert records.count() == PAYOUTS
    assert set(records.values_list("times_paid", flat=True)) == {1}
    assert ledger_reconcile().is_clean
