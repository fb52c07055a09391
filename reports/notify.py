"""How an incident reaches a person: an e-mail to ALERT_EMAILS (Django's mail
settings) and, when ALERT_WEBHOOK_URL is set, a JSON POST to it.

Both carry the incident's kind, key, summary, times and a link to its admin page,
and nothing else: no destination, name or e-mail of a creator, no secret.
"""

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import Incident

logger = logging.getLogger(__name__)


class WebhookFailed(Exception):
    """The webhook did not answer 2xx in time; the task retries it."""


def incident_admin_url(incident: Incident) -> str:
    path = reverse("admin:reports_incident_change", args=[incident.pk])
    return settings.ALERT_ADMIN_BASE_URL.rstrip("/") + path


def incident_message(incident: Incident, event: str) -> dict:
    return {
        "event": event,
        "kind": incident.kind,
        "kind_display": incident.get_kind_display(),
        "key": incident.key,
        "summary": incident.summary,
        "opened_at": incident.opened_at.isoformat(),
        "closed_at": incident.closed_at and incident.closed_at.isoformat(),
        "url": incident_admin_url(incident),
    }


def incident_email_send(incident: Incident, event: str) -> int:
    """Mail the incident to ALERT_EMAILS; returns how many messages went out."""
    if not settings.ALERT_EMAILS:
        logger.warning(
            "Incident %s %s: ALERT_EMAILS is empty, no e-mail sent.", incident.pk, event
        )
        return 0
    message = incident_message(incident, event)
    if event == "opened":
        subject = f"[{settings.ALERT_SUBJECT_PREFIX}] {message['kind_display']}"
        body = (
            f"{message['summary']}\n\n"
            f"Opened: {message['opened_at']}\n"
            f"Details and history: {message['url']}\n"
            "What to do: docs/operations.md, section Alerts.\n"
        )
    else:
        subject = (
            f"[{settings.ALERT_SUBJECT_PREFIX}] Resolved: {message['kind_display']}"
        )
        body = (
            f"Resolved: {message['summary']}\n\n"
            f"Opened: {message['opened_at']}\nClosed: {message['closed_at']}\n"
            f"{message['url']}\n"
        )
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, settings.ALERT_EMAILS)


def incident_webhook_send(incident: Incident, event: str) -> bool:
    """POST the incident as JSON to ALERT_WEBHOOK_URL; False when none is set.
    Raises WebhookFailed on an error, a time-out or an answer other than 2xx."""
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps(incident_message(incident, event)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(
            request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
        ) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        raise WebhookFailed(f"The alert webhook answered {error.code}.") from None
    except OSError as error:
        # The URL may hold a token (chat webhooks do): never in the message.
        raise WebhookFailed(f"The webhook failed: {type(error).__name__}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"The alert webhook answered {status}.")
    return True
