"""What the region rules (earnings holds, eligibility rules) share: a rule starts
now or later, one per region and moment, and says why."""

import datetime

from django.db import models

from catalog.models import Region


def region_rule_errors(
    model: type[models.Model],
    *,
    region: Region | None,
    effective_from: datetime.datetime,
    reason: str,
    now: datetime.datetime,
    backdated: str,
    taken: str,
    no_reason: str,
) -> dict[str, str]:
    """The timing and reason errors of a new `model` rule, in the caller's words."""
    errors = {}
    if effective_from < now:
        errors["effective_from"] = backdated
    elif model.objects.filter(region=region, effective_from=effective_from).exists():
        errors["effective_from"] = taken
    if not reason.strip():
        errors["reason"] = no_reason
    return errors
