"""Alerts reach a person once per incident (issue 16): a real SMTP server (aiosmtpd)
and a real HTTP server, each in a thread, receive what the alert check sends."""

import datetime
import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.roles import FINANCE, SUPPORT
from gifting.tests.factories import rich_creator
from payouts import services as payout_services
from payouts.models import Payout, ProviderTimeoutRecord
from payouts.providers import PayoutResult
from reports import services, tasks
from reports.models import Incident
from wallets.models import DIAMOND_SCALE, ReconciliationRun
from wallets.tests.factories import staff_create

pytestmark = pytest.mark.django_db
Kind = Incident.Kind


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """aiosmtpd's handler: keeps every message the SMTP server accepts."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        return [
            f"{m['Subject']}\n{m.get_body(('plain',)).get_content()}"
            for m in self.messages
        ]


@pytest.fixture
def smtp_sink(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.ALERT_EMAILS = ["ops@example.org", "finance@example.org"]
    yield mailbox
    controller.stop()


class Webhook:
    """What the local webhook received; `answers` are the statuses it gives in
    turn (then 204)."""

    def __init__(self):
        self.calls: list[dict] = []
        self.answers: list[int] = []


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        hook = self.server.hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        hook.calls.append(
            {"content_type": self.headers["Content-Type"], **json.loads(body)}
        )
        self.send_response(hook.answers.pop(0) if hook.answers else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookHandler)
    server.hook = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hooks/alert"
    settings.ALERT_ADMIN_BASE_URL = "https://backoffice.example.org"
    yield server.hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def check(django_capture_on_commit_callbacks, eager_celery):
    """One run of the beat task's check, its notifications sent as on commit."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return services.alerts_check()

    return run


def _payout(*, destination="creator@example.com", diamonds=20_000) -> Payout:
    creator = rich_creator(diamonds=30_000, paypal_email=destination)
    payout = payout_services.payout_request(
        creator=creator,
        diamond_units=diamonds * DIAMOND_SCALE,
        idempotency_key="alert",
    ).payout
    return payout_services.payout_approve(payout=payout, actor=staff_create(FINANCE))


class Scenario:
    """Makes a kind's condition hold, and clears it, through the real models."""

    def hold(self): ...

    def clear(self): ...


class Mismatch(Scenario):
    def hold(self):
        ReconciliationRun.objects.create(
            problems=["Account 7 (diamonds of user 3): cached 5, transfers say 4."]
        )

    def clear(self):
        ReconciliationRun.objects.create(problems=[])


class Stuck(Scenario):
    def hold(self):
        self.payout = _payout()
        Payout.objects.filter(id=self.payout.id).update(
            status=Payout.Status.PROCESSING,
            updated_at=timezone.now() - datetime.timedelta(minutes=31),
        )

    def clear(self):
        payout_services.payout_results_record(
            results=[PayoutResult(self.payout.reference, paid=True, provider_id="P1")]
        )


class Failed(Scenario):
    def hold(self):
        self.payouts = [_payout(destination=f"c{i}+fail@example.com") for i in (1, 2)]
        payout_services.payouts_send(payout_ids=[p.id for p in self.payouts])

    def clear(self):
        finance = staff_create(FINANCE)
        for payout in Payout.objects.filter(id__in=[p.id for p in self.payouts]):
            payout_services.payout_return(payout=payout, actor=finance)


class Timeouts(Scenario):
    def hold(self):
        for _ in range(6):
            ProviderTimeoutRecord.objects.create(payouts=3)

    def clear(self):
        ProviderTimeoutRecord.objects.update(
            at=timezone.now() - datetime.timedelta(minutes=11)
        )


SCENARIOS = {
    Kind.RECONCILIATION: Mismatch,
    Kind.PAYOUTS_STUCK: Stuck,
    Kind.PAYOUTS_FAILED: Failed,
    Kind.PROVIDER_TIMEOUTS: Timeouts,
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_each_alert_is_sent_once_when_it_opens_and_once_when_it_clears(
    kind, smtp_sink, webhook, check
):
    scenario = SCENARIOS[kind]()
    scenario.hold()
    for _ in range(3):
        check()

    incident = Incident.objects.get()
    assert (incident.kind, incident.is_open) == (kind, True)
    assert len(smtp_sink.messages) == 1
    mail = smtp_sink.messages[0]
    assert mail["Subject"] == f"[giftshop] {incident.get_kind_display()}"
    assert smtp_sink.recipients == [["ops@example.org", "finance@example.org"]]
    assert incident.summary in smtp_sink.bodies()[0]
    url = f"https://backoffice.example.org/admin/reports/incident/{incident.pk}/change/"
    assert url in smtp_sink.bodies()[0]
    assert webhook.calls == [
        {
            "content_type": "application/json",
            "event": "opened",
            "kind": kind,
            "kind_display": incident.get_kind_display(),
            "key": incident.key,
            "summary": incident.summary,
            "opened_at": incident.opened_at.isoformat(),
            "closed_at": None,
            "url": url,
        }
    ]

    scenario.clear()
    check()
    check()
    incident.refresh_from_db()
    assert not incident.is_open
    assert len(smtp_sink.messages) == 2
    assert smtp_sink.messages[1]["Subject"].startswith("[giftshop] Resolved: ")
    assert [call["event"] for call in webhook.calls] == ["opened", "resolved"]
    assert webhook.calls[1]["closed_at"] == incident.closed_at.isoformat()

    scenario.hold()
    check()
    check()
    assert Incident.objects.count() == 2
    assert Incident.objects.get(closed_at__isnull=True).pk != incident.pk
    assert len(smtp_sink.messages) == 3
    assert [call["event"] for call in webhook.calls] == ["opened", "resolved", "opened"]
    # No creator's destination, no secret, in anything sent.
    sent = "\n".join(smtp_sink.bodies()) + json.dumps(webhook.calls)
    assert "@example.com" not in sent
    assert "secret" not in sent.lower()


def test_a_failed_batch_names_its_references_and_a_later_batch_is_its_own_incident(
    smtp_sink, webhook, check
):
    first = Failed()
    first.hold()
    check()
    second = Failed()
    second.hold()
    check()
    check()

    incidents = list(Incident.objects.order_by("id"))
    assert [i.kind for i in incidents] == [Kind.PAYOUTS_FAILED] * 2
    for incident, batch in zip(incidents, (first, second), strict=True):
        for payout in batch.payouts:
            assert payout.reference in incident.summary
    assert len(smtp_sink.messages) == 2 and len(webhook.calls) == 2

    first.clear()
    check()
    assert [i.is_open for i in Incident.objects.order_by("id")] == [False, True]


def test_a_stuck_payout_is_an_incident_only_past_its_threshold(
    settings, smtp_sink, check
):
    settings.PAYOUT_STUCK_MINUTES = 45
    Stuck().hold()
    check()
    assert not Incident.objects.exists()
    settings.PAYOUT_STUCK_MINUTES = 30
    check()
    assert "more than 30 minutes" in Incident.objects.get().summary


def test_time_outs_up_to_the_limit_are_no_storm(settings, smtp_sink, check):
    settings.PROVIDER_TIMEOUT_STORM_COUNT = 6
    Timeouts().hold()
    check()
    assert not Incident.objects.exists()
    ProviderTimeoutRecord.objects.create(payouts=1)
    check()
    assert Incident.objects.get().summary == (
        "The payout provider timed out 7 times in 10 minutes (alert above 6)."
    )


def test_a_failing_webhook_loses_no_e_mail_and_reopens_nothing(
    smtp_sink, webhook, check
):
    webhook.answers = [500, 503]
    Mismatch().hold()
    check()
    check()
    check()
    incident = Incident.objects.get()
    assert incident.is_open
    assert len(smtp_sink.messages) == 1
    assert len(webhook.calls) == 1

    # The worker runs the task again after its backoff: the second answer (503)
    # retries it once more (at once, in-process), and the third is delivered.
    result = tasks.send_incident_webhook.apply([incident.pk, "opened"], throw=False)
    assert (result.state, result.get()) == ("SUCCESS", True)
    assert [call["event"] for call in webhook.calls] == ["opened"] * 3
    assert Incident.objects.count() == 1 and len(smtp_sink.messages) == 1


def test_the_notifications_retry_with_backoff():
    for task in (tasks.send_incident_email, tasks.send_incident_webhook):
        assert task.acks_late and task.max_retries == 5
        assert (task.retry_backoff, task.retry_backoff_max) == (30, 900)


def test_without_a_webhook_url_only_e_mail_goes_out(settings, smtp_sink, check):
    settings.ALERT_WEBHOOK_URL = ""
    Mismatch().hold()
    check()
    assert len(smtp_sink.messages) == 1


def test_without_alert_emails_only_the_webhook_goes_out(
    settings, smtp_sink, webhook, check
):
    settings.ALERT_EMAILS = []
    Mismatch().hold()
    check()
    assert smtp_sink.messages == []
    assert len(webhook.calls) == 1


def test_the_database_keeps_one_open_incident_per_kind_and_key():
    Incident.objects.create(kind=Kind.RECONCILIATION, key="ledger", summary="a")
    with pytest.raises(IntegrityError):
        Incident.objects.create(kind=Kind.RECONCILIATION, key="ledger", summary="b")


def test_the_check_runs_every_minute_from_the_database_schedule():
    task = PeriodicTask.objects.get(name="Check alerts")
    assert (task.task, task.interval.every, task.interval.period) == (
        "reports.check_alerts",
        1,
        "minutes",
    )
    assert task.task == tasks.check_alerts.name


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL's concurrent writers"
)
def test_checks_running_at_once_notify_once(smtp_sink, webhook, eager_celery):
    def at_once(work, workers=6):
        barrier = threading.Barrier(workers)
        errors = []

        def one():
            try:
                barrier.wait()
                work()
            except Exception as error:  # reported below, from the main thread
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=one) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

    Mismatch().hold()
    at_once(services.alerts_check)
    assert Incident.objects.filter(closed_at__isnull=True).count() == 1
    assert len(smtp_sink.messages) == 1 and len(webhook.calls) == 1

    Mismatch().clear()
    at_once(services.alerts_check)
    assert Incident.objects.filter(closed_at__isnull=True).count() == 0
    assert len(smtp_sink.messages) == 2 and len(webhook.calls) == 2


def test_finance_reads_incidents_and_nobody_edits_them(client):
    from payouts.tests.scenes import staff_user

    now = timezone.now()
    Incident.objects.create(
        kind=Kind.PAYOUTS_STUCK, key="processing", summary="2 payouts stuck"
    )
    Incident.objects.create(
        kind=Kind.RECONCILIATION,
        key="ledger",
        summary="Reconciliation run #4 found 1 problem.",
        opened_at=now - datetime.timedelta(hours=2),
        closed_at=now - datetime.timedelta(hours=1),
    )
    client.force_login(staff_user("fiona"))
    changelist = reverse("admin:reports_incident_changelist")
    page = client.get(changelist).content.decode()
    assert "2 payouts stuck" in page and "Reconciliation run #4" in page
    only_open = client.get(changelist, {"state": "open"}).content.decode()
    assert "2 payouts stuck" in only_open and "Reconciliation run #4" not in only_open
    assert client.get(reverse("admin:reports_incident_add")).status_code == 403
    incident = Incident.objects.first()
    change = client.post(
        reverse("admin:reports_incident_change", args=[incident.pk]),
        {"summary": "nothing to see"},
    )
    assert change.status_code == 403
    incident.refresh_from_db()
    assert incident.summary != "nothing to see"

    client.force_login(staff_user("sam", SUPPORT))
    assert client.get(changelist).status_code == 403


def test_the_incident_list_queries_do_not_grow_with_incidents(client):
    client.force_login(staff_create(FINANCE))
    changelist = reverse("admin:reports_incident_changelist")

    def queries_for(incidents: int) -> int:
        for n in range(incidents):
            Incident.objects.create(
                kind=Kind.PAYOUTS_FAILED, key=f"{incidents}-{n}", summary="refused"
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(changelist).status_code == 200
        return len(queries)

    assert queries_for(1) == queries_for(20)
