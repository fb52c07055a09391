"""A user's home region, set by support."""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from catalog.models import Region
from core.errors import ServiceError

from ..models import (
    HomeRegion,
)

logger = logging.getLogger(__name__)


HOME_REGION_PERMISSION = "wallets.change_homeregion"


def home_region_set(
    *,
    user: User,
    region: Region,
    actor: User | None,
    reason: str,
    now: datetime.datetime | None = None,
) -> HomeRegion:
    """Set a user's home region, saying why: support (`actor`), or the platform
    itself (no actor: a seed, a command). Nobody sets their own.

    From then on the user buys coins and sends region-only gifts only there, and
    that region's spending limits apply, counting what they spent elsewhere. The
    audit records the change with the row before and after.
    """
    if actor is not None:
        if not actor.has_perm(HOME_REGION_PERMISSION):
            raise ServiceError(
                "Only support sets a user's home region.", status_code=403
            )
        if actor.id == user.id:
            raise ServiceError("Nobody sets their own home region.", field="user")
    if not reason.strip():
        raise ServiceError("Say why the home region is set.", field="reason")
    if not region.is_active:
        raise ServiceError(f"{region.code} is not an active region.", field="region")
    now = now or timezone.now()
    fields = {
        "region": region,
        "source": HomeRegion.Source.SUPPORT if actor else HomeRegion.Source.PLATFORM,
        "reason": reason.strip(),
        "set_by": actor,
        "set_at": now,
    }
    try:
        with transaction.atomic():
            home = HomeRegion.objects.select_for_update().filter(user=user).first()
            if home is None:
                home = HomeRegion.objects.create(user=user, **fields)
            elif home.region_id == region.id:
                raise ServiceError(
                    f"{user}'s home region is already {region.code}.", field="region"
                )
            else:
                for name, value in fields.items():
                    setattr(home, name, value)
                home.save(update_fields=list(fields))
    except IntegrityError:
        # A first purchase or another change set it at the same moment.
        raise ServiceError(
            f"{user}'s home region was set at the same moment; look again.",
            code="conflict",
            status_code=409,
        ) from None
    logger.info("Home region of %s set to %s by %s", user, region.code, actor)
    return home
