"""Incidents: opened when a condition starts to hold, closed when it stops, each
notified once either way. The beat task `reports.check_alerts` runs `alerts_check`
every minute, the way Healthchecks' `sendalerts` polls.

Reports change no money; incidents, and the record of each export of the books
(`books_export_record`), are the only things this app writes.
"""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .conditions import CONDITIONS, Holding
from .models import BooksExport, Incident

logger = logging.getLogger(__name__)

OPENED = "opened"
RESOLVED = "resolved"


def _notify_on_commit(incident_id: int, event: str) -> None:
    from . import tasks

    # Queued once the incident is committed, e-mail first and apart from the
    # webhook, so a webhook that fails cannot lose the e-mail. Robust: a broker
    # or mail failure is logged and never undoes the incident.
    transaction.on_commit(
        lambda: tasks.send_incident_email.delay(incident_id, event), robust=True
    )
    transaction.on_commit(
        lambda: tasks.send_incident_webhook.delay(incident_id, event), robust=True
    )


def incident_open(*, holding: Holding, now: datetime.datetime) -> Incident | None:
    """Open the incident `holding` describes and notify, unless one is open already:
    then only its details are brought up to date. Returns the incident opened."""
    with transaction.atomic():
        updated = Incident.objects.filter(
            kind=holding.kind, key=holding.key, closed_at__isnull=True
        ).update(details=holding.details)
        if updated:
            return None
        try:
            # A savepoint: a check that loses the race for the open incident to
            # another one (the database keeps one open per key) sends nothing.
            with transaction.atomic():
                incident = Incident.objects.create(
                    kind=holding.kind,
                    key=holding.key,
                    summary=holding.summary[:300],
                    details=holding.details,
                    opened_at=now,
                )
        except IntegrityError:
            return None
        _notify_on_commit(incident.pk, OPENED)
    logger.warning("Incident opened: %s", incident)
    return incident


def incident_close(*, incident_id: int, now: datetime.datetime) -> bool:
    """Close an open incident and notify; False if it was closed already."""
    with transaction.atomic():
        # Compare-and-set: of two checks closing it at once, one notifies.
        closed = Incident.objects.filter(pk=incident_id, closed_at__isnull=True).update(
            closed_at=now
        )
        if closed:
            _notify_on_commit(incident_id, RESOLVED)
    return bool(closed)


def alerts_check(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Read every condition; open an incident for each that newly holds and close
    each open incident whose condition no longer holds. Safe to run twice, also
    at once. Returns how many incidents it opened and closed."""
    now = now or timezone.now()
    opened = closed = 0
    for kind, condition in CONDITIONS.items():
        holding = {h.key: h for h in condition(now)}
        for h in holding.values():
            opened += incident_open(holding=h, now=now) is not None
        still_open = Incident.objects.filter(kind=kind, closed_at__isnull=True)
        for incident_id, key in still_open.values_list("id", "key"):
            if key not in holding:
                closed += incident_close(incident_id=incident_id, now=now)
    return {"opened": opened, "closed": closed}


def books_export_record(
    *, actor, first_day: datetime.date, last_day: datetime.date, file_format: str
) -> BooksExport:
    """Put on record that `actor` takes the books of this range away as a file; the
    audit records who (its trigger reads the request's actor)."""
    with transaction.atomic():
        return BooksExport.objects.create(
            actor=actor, first_day=first_day, last_day=last_day, format=file_format
        )
