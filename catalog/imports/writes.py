"""Applying checked rows to the database, in bulk, inside the import's transaction."""

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connections, router
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User

from .. import services
from ..models import BundlePrice, Gift
from .files import CHUNK_ROWS


@dataclass
class GiftOp:
    gift: Gift
    # Only the difference is written: the audit then records the links that moved.
    regions_added: set[int]
    links_removed: list[int]


def gifts_write(
    ops: list[GiftOp], *, fields: list[str], now, actor: User | None, reason: str
) -> None:
    """Add the new gifts and update `fields` of the known ones, each with a history
    row by `actor` with `reason`; then move their region links."""
    new = [op for op in ops if op.gift.pk is None]
    changed = [op for op in ops if op.gift.pk is not None]
    bulk_create_with_history(
        [op.gift for op in new],
        Gift,
        batch_size=CHUNK_ROWS,
        default_user=actor,
        default_change_reason=reason,
    )
    if changed:
        for op in changed:
            op.gift.updated_at = now
        bulk_update_with_history(
            [op.gift for op in changed],
            Gift,
            [*fields, "updated_at"],
            batch_size=CHUNK_ROWS,
            default_user=actor,
            default_change_reason=reason,
        )
    through = Gift.regions.through
    through.objects.filter(
        id__in=[link for op in changed for link in op.links_removed]
    ).delete()
    through.objects.bulk_create(
        [
            through(gift_id=op.gift.id, region_id=region_id)
            for op in ops
            for region_id in op.regions_added
        ],
        batch_size=CHUNK_ROWS,
    )


class Insert:
    """Plain INSERTs of many rows of `model`, one executemany per chunk.

    The same SQL as `bulk_create`, without its model object per row, which costs
    most of a large import's time (measured: 3x the time, 12x under tracemalloc).
    Rows hold the `varying` fields' values, datetimes and decimals passed through
    `moment` and `decimal` (what those fields do before a save); the other fields
    take `fixed` values or their defaults, prepared once by the field.
    """

    def __init__(self, model, varying: tuple[str, ...], **fixed):
        self.model = model
        self.connection = connections[router.db_for_write(model)]
        self.varying = [model._meta.get_field(name) for name in varying]
        constant = [
            f
            for f in model._meta.concrete_fields
            if f not in self.varying and not f.primary_key
        ]
        self.constants = tuple(
            f.get_db_prep_save(self._fixed(f, fixed), self.connection) for f in constant
        )
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in [*self.varying, *constant])
        marks = ", ".join(["%s"] * (len(self.varying) + len(constant)))
        self.sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
        )
        # Rows of one import share a few moments: adapt each once.
        self.moment = functools.lru_cache(maxsize=1024)(
            self.connection.ops.adapt_datetimefield_value
        )

    def stored(self, value, field_name: str):
        """`value` as its column keeps it: a price in integer minor units."""
        field = self.model._meta.get_field(field_name)
        return field.get_db_prep_save(value, self.connection)

    @staticmethod
    def _fixed(field, fixed: dict):
        if field.name in fixed:
            return fixed[field.name]
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            return timezone.now()
        return field.get_default()

    def __call__(self, rows: Iterable[tuple]) -> None:
        params = [(*row, *self.constants) for row in rows]
        if params:
            with self.connection.cursor() as cursor:
                cursor.executemany(self.sql, params)


def bundle_prices_insert_start(
    *, bundle_ids: Iterable[int], actor: User | None, now
) -> Insert:
    """Lock the bundles being priced, as every price write does, and prepare the
    INSERT of hand-set rows by `actor`."""
    services.bundles_lock(bundle_ids=bundle_ids)
    return Insert(
        BundlePrice,
        ("bundle", "region", "channel", "price", "price_currency", "effective_at"),
        source=BundlePrice.Source.MANUAL,
        created_by=actor.id if actor else None,
        created_at=now,
    )


def bundle_prices_write(insert: Insert, rows: list[tuple]) -> None:
    """Add (bundle id, region id, channel, price, moment) rows."""
    insert(
        (
            bundle_id,
            region_id,
            channel,
            insert.stored(price.amount, "price"),
            price.currency.code,
            insert.moment(moment),
        )
        for bundle_id, region_id, channel, price, moment in rows
    )
