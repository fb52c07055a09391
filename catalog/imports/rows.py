"""Validating rows, a chunk at a time, with the models' own rules: each kind of
file says its columns, the record a row sets, and what its good rows would write."""

import datetime
import functools
from collections import defaultdict
from collections.abc import Hashable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User

from .. import pricing
from ..models import BundlePrice, CoinBundle, Gift, Region, new_price_moment
from . import rules, writes
from .report import Counts, Report


class Kind:
    """What one kind of file holds and how its rows are checked and written."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # Model field -> file column, for the model's validation errors.
    columns: dict[str, str] = {}

    def __init__(self, *, actor: User | None, source: str):
        self.actor = actor
        self.reason = rules.import_reason(source)
        self.header: list[str] = []

    def key(self, row: dict[str, str]) -> tuple[str, Hashable]:
        """(column, key) naming the record a row sets; two rows may not share it."""
        raise NotImplementedError

    def check(self, chunk, report: Report, *, now, counts: Counts) -> list:
        """Validate a chunk; report bad rows, return what the good ones would write."""
        raise NotImplementedError

    def write(self, ops: list, *, now, counts: Counts) -> None:
        raise NotImplementedError

    def before_write(self, *, now) -> None:
        pass

    def unknown_column(self, name: str) -> str:
        return "Unknown column."


_GIFT_PARSERS = {
    "coin_price": rules.integer_parse,
    "sort_order": rules.integer_parse,
    "is_active": rules.boolean_parse,
    "available_from": rules.datetime_parse,
    "available_until": rules.datetime_parse,
    "sponsor_starts_at": rules.datetime_parse,
    "sponsor_ends_at": rules.datetime_parse,
    **{
        column: functools.partial(rules.translation_parse, field=field)
        for column, field in rules.TRANSLATED_FIELD_OF.items()
    },
}


class Gifts(Kind):
    """Gifts matched on `slug`: a new slug adds a gift, a known one updates it;
    columns left out of the file keep their values."""

    required = ("slug", "name", "coin_price")
    optional = rules.GIFT_COLUMNS[3:]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.region_ids = dict(Region.objects.values_list("code", "id"))
        self.through = Gift.regions.through

    def key(self, row):
        return "slug", row["slug"]

    def unknown_column(self, name):
        return rules.unknown_language(name) or super().unknown_column(name)

    def _fields(self) -> list[str]:
        """The gift columns the file sets; the others keep their values."""
        return [n for n in rules.GIFT_COLUMNS if n in self.header and n != "regions"]

    def check(self, chunk, report, *, now, counts):
        fields = self._fields()
        existing = {
            gift.slug: gift
            for gift in Gift.objects.filter(slug__in=[row["slug"] for _, row in chunk])
        }
        links_now = defaultdict(dict)  # gift id -> {region id: link id}
        for link_id, gift_id, region_id in self.through.objects.filter(
            gift_id__in=[gift.id for gift in existing.values()]
        ).values_list("id", "gift_id", "region_id"):
            links_now[gift_id][region_id] = link_id
        ops = []
        for line, row in chunk:
            gift = existing.get(row["slug"]) or Gift()
            attributes = rules.gift_attributes(fields)
            before = {name: rules.gift_value(gift, name) for name in attributes}
            errors = {}
            for name in fields:
                attribute = rules.TRANSLATION_COLUMNS.get(name, name)
                try:
                    setattr(gift, attribute, _GIFT_PARSERS.get(name, str)(row[name]))
                except ValueError as error:
                    errors[name] = [str(error)]
            region_ids = None
            if "regions" in row:
                try:
                    region_ids = set(
                        rules.regions_parse(row["regions"], lambda _: self.region_ids)
                    )
                except ValueError as error:
                    errors["regions"] = [str(error)]
            try:
                gift.full_clean(
                    exclude=[*errors, *rules.ENGLISH_MIRRORS],
                    validate_unique=False,
                    validate_constraints=False,
                )
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            if errors:
                report.add_validation(
                    line, ValidationError(errors), rules.TRANSLATION_COLUMN_OF, row
                )
                continue
            if gift.pk is None:
                counts.created += 1
                ops.append(writes.GiftOp(gift, region_ids or set(), []))
                continue
            links = links_now[gift.id]
            added = set() if region_ids is None else region_ids - links.keys()
            removed = (
                []
                if region_ids is None
                else [links[r] for r in links.keys() - region_ids]
            )
            changed = any(
                rules.gift_value(gift, name) != before[name] for name in attributes
            )
            if changed or added or removed:
                counts.updated += 1
                ops.append(writes.GiftOp(gift, added, removed))
            else:
                counts.skipped += 1
        return ops

    def write(self, ops, *, now, counts):
        writes.gifts_write(
            ops,
            fields=rules.gift_attributes(self._fields()),
            now=now,
            actor=self.actor,
            reason=self.reason,
        )


class BundlePrices(Kind):
    """Hand-set price rows, as the admin's price import adds them: never an edit;
    an empty `effective_at` means now; a row equal to what is there is skipped."""

    required = rules.PRICE_COLUMNS[:5]
    # `source` is in the export; an import always adds hand-set rows.
    optional = (*rules.PRICE_COLUMNS[5:], "source")
    columns = {"bundle": "sku"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bundle_ids = dict(CoinBundle.objects.values_list("sku", "id"))
        self.regions = {region.code: region for region in Region.objects.all()}

    def key(self, row):
        moment = row.get("effective_at", "")
        try:
            moment = rules.datetime_parse(moment).isoformat() if moment else ""
        except ValueError:
            pass
        cell = (row["sku"], row["region"].upper(), row["channel"], moment)
        return "effective_at" if moment else "channel", cell

    def before_write(self, *, now):
        self.insert = writes.bundle_prices_insert_start(
            bundle_ids=self.bundle_ids.values(), actor=self.actor, now=now
        )

    def check(self, chunk, report, *, now, counts):
        candidates = []
        for line, row in chunk:
            errors = {}
            bundle_id = self._lookup(row["sku"], self.bundle_ids, "sku", errors)
            region = self._lookup(row["region"], self.regions, "region", errors)
            price = None
            try:
                price = pricing.price_parse(
                    amount=row["price"], currency=row["currency"], region=region
                )
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            model_errors = self._model_errors(
                row["price"] if price is not None else "",
                price.currency.code if price is not None else "",
                row["channel"],
            )
            for name, messages in model_errors.items():
                errors.setdefault(name, messages)
            moment = None
            if row.get("effective_at"):
                try:
                    moment = self._moment(
                        row["effective_at"], timezone.get_current_timezone_name()
                    )
                except ValueError as error:
                    errors["effective_at"] = [str(error)]
            if errors:
                report.add_validation(line, ValidationError(errors), self.columns, row)
                continue
            cell = (bundle_id, region.id, row["channel"])
            candidates.append((line, *cell, price, moment))
        return self._skip_or_add(candidates, report, now=now, counts=counts)

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _model_errors(amount: str, currency: str, channel: str) -> dict:
        """The model's own checks of a price and channel (more than zero, at most 14
        digits, the currency's decimals, a known channel), by their text: rows
        repeat the same few prices, so this runs once per distinct one."""
        row = BundlePrice(
            channel=channel,
            price=Money(Decimal(amount), currency) if amount else None,
            source=BundlePrice.Source.MANUAL,
        )
        exclude = ["bundle", "region", "created_by", "effective_at"]
        try:
            row.full_clean(
                exclude=exclude if amount else [*exclude, "price"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as error:
            return error.message_dict
        return {}

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _moment(value: str, zone: str) -> datetime.datetime | None:
        # Keyed by the time zone too, as a moment without one is read in it.
        return rules.datetime_parse(value)

    @staticmethod
    def _lookup(value, records, column, errors):
        try:
            return rules.record_by_key(
                value,
                records.get,
                label="region code" if column == "region" else column,
                uppercase=column == "region",
            )
        except ValueError as error:
            errors[column] = [str(error)]
            return None

    def _skip_or_add(self, candidates, report, *, now, counts):
        """The rows that add a price; those equal to the price there are skipped, as
        in the admin import, even if their moment has passed since the export."""
        if not candidates:
            return []
        there = rules.bundle_prices_there(
            [candidate[1:4] + (candidate[5],) for candidate in candidates], now=now
        )
        rows = []
        for line, bundle_id, region_id, channel, price, moment in candidates:
            cell = (bundle_id, region_id, channel)
            held = there.get((*cell, moment))
            if rules.price_is_there(held, price):
                counts.skipped += 1
                continue
            if moment and held is not None:
                report.add(
                    line,
                    "effective_at",
                    f"This cell already has a price of {held[0]} {held[1]} from "
                    "this moment; prices are never edited, choose another moment.",
                )
                continue
            try:
                moment = new_price_moment(moment, now=now)
            except ValidationError as error:
                report.add_validation(line, error, self.columns)
                continue
            counts.created += 1
            rows.append((*cell, price, moment))
        return rows

    def write(self, ops, *, now, counts):
        writes.bundle_prices_write(self.insert, ops)
