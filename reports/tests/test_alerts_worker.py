"""The alert's messages through a real Celery worker: a webhook that fails is
retried by the worker after its backoff, and the e-mail goes out once meanwhile."""

import os
import subprocess
import sys

from django.conf import settings
from django.db import connection

from payouts.tests import test_worker_faults
from payouts.tests.test_worker_faults import ROOT, kill, wait_for
from reports import services, tasks
from reports.models import Incident

from .test_alerts import Mismatch, smtp_sink, webhook  # noqa: F401

# The payout worker's test's needs: PostgreSQL, a broker, and the migrations' data
# put back afterwards.
pytestmark = test_worker_faults.pytestmark

def start_worker(**env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "1"]
        + ["--loglevel=warning", "--without-heartbeat", "--without-gossip"]
        + ["--without-mingle"],
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_failed_webhook_is_retried_by_the_worker_and_the_e_mail_sent_once(
    smtp_sink,  # noqa: F811
    webhook,  # noqa: F811
):
    tasks.check_alerts.app.control.purge()
    webhook.answers = [500]
    database = connection.settings_dict
    worker = start_worker(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}",
        EMAIL_BACKEND=settings.EMAIL_BACKEND,
        EMAIL_HOST=settings.EMAIL_HOST,
        EMAIL_PORT=str(settings.EMAIL_PORT),
        ALERT_EMAILS=",".join(settings.ALERT_EMAILS),
        ALERT_WEBHOOK_URL=settings.ALERT_WEBHOOK_URL,
    )
    try:
        Mismatch().hold()
        services.alerts_check()
        services.alerts_check()
        # The first call fails; the retry comes within the first backoff (30 s).
        assert wait_for(lambda: len(webhook.calls) == 2, 45), webhook.calls
        assert wait_for(lambda: len(smtp_sink.messages) == 1, 5)
        services.alerts_check()
    finally:
        kill(worker)

    assert [call["event"] for call in webhook.calls] == ["opened", "opened"]
    assert len(smtp_sink.messages) == 1
    assert Incident.objects.filter(closed_at__isnull=True).count() == 1
