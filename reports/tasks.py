from celery import shared_task

from . import notify, services
from .models import Incident


@shared_task(name="reports.check_alerts")
def check_alerts() -> dict[str, int]:
    """Open and close incidents from what holds now (every minute, by beat)."""
    return services.alerts_check()


@shared_task(
    name="reports.send_incident_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=5,
)
def send_incident_email(incident_id: int, event: str) -> int:
    return notify.incident_email_send(Incident.objects.get(pk=incident_id), event)


@shared_task(
    name="reports.send_incident_webhook",
    acks_late=True,
    autoretry_for=(notify.WebhookFailed,),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=5,
)
def send_incident_webhook(incident_id: int, event: str) -> bool:
    return notify.incident_webhook_send(Incident.objects.get(pk=incident_id), event)


@shared_task(name="reports.run_export", acks_late=True)
def run_export(export_id: int) -> str | None:
    """Make an export's file; a second delivery finds it claimed and does nothing."""
    export = services.export_run(export_id=export_id)
    return export.status if export else None


@shared_task(name="reports.expire_exports")
def expire_exports() -> int:
    """Delete export files past their keeping time (daily, by beat)."""
    return services.exports_expire()
