from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from djmoney.money import Money
from import_export import fields, resources
from import_export.widgets import (
    BooleanWidget,
    CharWidget,
    DateTimeWidget,
    ForeignKeyWidget,
    IntegerWidget,
    ManyToManyWidget,
)

from core.exports import importable_text, imported_text

from . import pricing, selectors, services
from .imports import rules
from .imports.quick import ChangesDiff
from .models import (
    BundlePrice,
    CoinBundle,
    Gift,
    GiftPriceChange,
    Region,
    new_price_moment,
)

# Cells are read by the large import's rules, so a bad one gets the same message in
# both imports and is its column's error, not an exception of the row.


class WholeNumberWidget(IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a spreadsheet's number cell
        return rules.integer_parse("" if value is None else str(value).strip())


class MomentWidget(DateTimeWidget):
    def clean(self, value, row=None, **kwargs):
        return rules.datetime_parse(value)


class OneOrZeroWidget(BooleanWidget):
    def clean(self, value, row=None, **kwargs):
        return rules.boolean_parse(value)


class CatalogResource(resources.ModelResource):
    """The catalog's resources: cells read as the large import reads them, a
    preview that lists each changed column as old -> new, and every record
    written carrying the importer and the file in its history."""

    WIDGETS_MAP = {
        **resources.ModelResource.WIDGETS_MAP,
        "PositiveIntegerField": WholeNumberWidget,
        "DateTimeField": MomentWidget,
        "BooleanField": OneOrZeroWidget,
    }

    def get_diff_class(self):
        return ChangesDiff

    def export_field(self, field, instance, **kwargs):
        # Every cell of a CSV or XLSX export: no text a spreadsheet runs as a
        # formula, none XLSX refuses; an import takes the added quote off.
        return importable_text(super().export_field(field, instance, **kwargs))

    def before_import(self, dataset, **kwargs):
        # Columns as the large import reads them (`Name_DE ` is `name_de`); a column
        # that is not the file's would otherwise be dropped without a word.
        headers = [str(header or "").strip().lower() for header in dataset.headers]
        known = {field.column_name for field in self.fields.values()}
        for header in headers:
            if header not in known:
                raise ValueError(
                    rules.unknown_language(header)
                    or f"Unknown column {header or '(empty)'}: the columns are "
                    f"{', '.join(sorted(known))}."
                )
        duplicated = sorted({header for header in headers if headers.count(header) > 1})
        if duplicated:
            raise ValueError(f"The column {duplicated[0]} appears twice.")
        dataset.headers = headers
        super().before_import(dataset, **kwargs)

    def import_row(self, row, instance_loader, **kwargs):
        row = type(row)((column, imported_text(value)) for column, value in row.items())
        return super().import_row(row, instance_loader, **kwargs)

    def before_save_instance(self, instance, row, **kwargs):
        instance._history_user = kwargs.get("user")
        instance._change_reason = rules.import_reason(kwargs.get("file_name"))


class RegionCodesWidget(ManyToManyWidget):
    """Region codes split by `|`; an unknown code is a row error, not dropped."""

    def __init__(self):
        super().__init__(Region, separator="|", field="code")

    def clean(self, value, row=None, **kwargs):
        return rules.regions_parse(
            value, lambda codes: Region.objects.in_bulk(codes, field_name="code")
        )


class TranslationWidget(CharWidget):
    """A translation cell: empty is no translation (null, as the admin saves it)."""

    def __init__(self, field: str):
        super().__init__()
        self.field = field

    def clean(self, value, row=None, **kwargs):
        value = "" if value is None else str(value).strip()
        return rules.translation_parse(value, self.field)


class TranslationField(fields.Field):
    """A translation column; empty and null read alike, so an export imports back
    as unchanged whichever a gift holds."""

    def get_value(self, instance):
        return super().get_value(instance) or None


class GiftResource(CatalogResource):
    regions = fields.Field(
        attribute="regions", column_name="regions", widget=RegionCodesWidget()
    )
    # Empty spreadsheet cells arrive as None; a blank text field wants "".
    description = fields.Field(
        attribute="description",
        column_name="description",
        widget=CharWidget(allow_blank=True),
    )

    class Meta:
        model = Gift
        import_id_fields = ("slug",)
        # The translation columns are added per language in __init__.
        fields = tuple(
            name for name in rules.GIFT_COLUMNS if name not in rules.TRANSLATION_COLUMNS
        )
        export_order = rules.GIFT_COLUMNS
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for column, attribute in rules.TRANSLATION_COLUMNS.items():
            self.fields[column] = TranslationField(
                attribute=attribute,
                column_name=column,
                widget=TranslationWidget(rules.TRANSLATED_FIELD_OF[column]),
            )

    def import_instance(self, instance, row, **kwargs):
        # Many-to-many columns are only read after the save; check the region codes
        # now so a bad code is a row error in the preview like any other field.
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        try:
            self.fields["regions"].widget.clean(row.get("regions"))
        except ValueError as error:
            errors["regions"] = [str(error)]
        if errors:
            raise ValidationError(errors)


class KeyWidget(ForeignKeyWidget):
    """A row by its key (sku, region code); an unknown key is a row error."""

    def __init__(self, model, field: str, *, label: str, uppercase: bool = False):
        super().__init__(model, field)
        self.label = label
        self.uppercase = uppercase

    def clean(self, value, row=None, **kwargs):
        return rules.record_by_key(
            value,
            lambda key: self.model.objects.filter(**{self.field: key}).first(),
            label=self.label,
            uppercase=self.uppercase,
        )


class BundlePriceResource(CatalogResource):
    """The price table: one row per bundle, region and channel for the price in
    force (empty `effective_at`), plus one per scheduled price.

    An import only ever adds hand-set rows, never edits one: a row with an empty
    `effective_at` starts now, and a row that matches what is already there is
    skipped, so an export imports back as all skips.
    """

    sku = fields.Field(
        attribute="bundle",
        column_name="sku",
        widget=KeyWidget(CoinBundle, "sku", label="sku"),
    )
    region = fields.Field(
        attribute="region",
        column_name="region",
        widget=KeyWidget(Region, "code", label="region code", uppercase=True),
    )
    channel = fields.Field(attribute="channel", column_name="channel")
    price = fields.Field(column_name="price")
    currency = fields.Field(column_name="currency")
    effective_at = fields.Field(
        attribute="effective_at", column_name="effective_at", widget=MomentWidget()
    )
    source = fields.Field(attribute="source", column_name="source", readonly=True)

    class Meta:
        model = BundlePrice
        fields = (*rules.PRICE_COLUMNS, "source")
        export_order = fields
        force_init_instance = True
        clean_model_instances = True
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.now = timezone.now()

    def filter_export(self, queryset, **kwargs):
        in_force = selectors.bundle_prices_in_force(when=self.now).values("id")
        return queryset.filter(
            Q(id__in=in_force) | Q(effective_at__gt=self.now)
        ).order_by(
            "bundle__sort_order",
            "bundle__coins",
            "region__code",
            "channel",
            "effective_at",
        )

    def dehydrate_price(self, row: BundlePrice) -> str:
        return pricing.amount_text(row.price)

    def dehydrate_currency(self, row: BundlePrice) -> str:
        return row.price.currency.code

    def dehydrate_effective_at(self, row: BundlePrice) -> str:
        if row.effective_at <= self.now:
            return ""
        return self.fields["effective_at"].widget.render(row.effective_at)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if "effective_at" not in errors:
            try:
                instance.effective_at = new_price_moment(
                    instance.effective_at, now=self.now
                )
            except ValidationError as error:
                errors = error.update_error_dict(errors)
        try:
            region = None if "region" in errors else instance.region
            instance.price = self._price(region, row)
        except ValidationError as error:
            # Keyed as the large import keys it: the price or the currency.
            errors = error.update_error_dict(errors)
        instance.source = BundlePrice.Source.MANUAL
        instance.created_by = kwargs.get("user")
        if errors:
            raise ValidationError(errors)

    def validate_instance(
        self, instance, import_validation_errors=None, validate_unique=True
    ):
        # As import-export does, but a price whose currency is wrong was not set:
        # the model is not asked about it again ("cannot be null").
        errors = dict(import_validation_errors or {})
        exclude = {*errors, "price"} if "currency" in errors else set(errors)
        try:
            instance.full_clean(exclude=exclude, validate_unique=validate_unique)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _price(region: Region | None, row) -> Money:
        # XLSX numbers arrive as floats: read their text, not their binary value.
        return pricing.price_parse(
            amount=str(row.get("price")),
            currency=str(row.get("currency") or ""),
            region=region,
        )

    def skip_row(self, instance, original, row, import_validation_errors=None):
        # A row already there is skipped even if its moment has passed since export.
        if set(import_validation_errors or ()) - {"effective_at"}:
            return False
        moment = instance.effective_at if row.get("effective_at") else None
        cell = (instance.bundle_id, instance.region_id, instance.channel, moment)
        there = rules.bundle_prices_there([cell], now=self.now).get(cell)
        return rules.price_is_there(there, instance.price)


class GiftPriceChangeResource(CatalogResource):
    """Scheduled coin prices that are not live yet: gift slug, price, moment.

    An import schedules each row through the service the admin's form calls, with
    the model's rules (a moment in the future, 1 to the price cap); a row equal
    to a pending change is skipped, so an export imports back as all skips.
    """

    gift = fields.Field(
        attribute="gift",
        column_name="gift",
        widget=KeyWidget(Gift, "slug", label="gift slug"),
    )
    effective_at = fields.Field(
        attribute="effective_at", column_name="effective_at", widget=MomentWidget()
    )

    class Meta:
        model = GiftPriceChange
        fields = ("gift", "coin_price", "effective_at")
        export_order = fields
        import_id_fields = fields
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def get_queryset(self):
        return GiftPriceChange.objects.filter(applied_at__isnull=True).select_related(
            "gift"
        )

    def get_instance(self, instance_loader, row):
        # An unknown slug or a bad moment is the row's error on its column, which
        # reading the row as a new change reports.
        try:
            return super().get_instance(instance_loader, row)
        except ValueError:
            return None

    def filter_export(self, queryset, **kwargs):
        return queryset.filter(applied_at__isnull=True).order_by(
            "effective_at", "gift__slug"
        )

    def save_instance(self, instance, is_create, row, **kwargs):
        scheduled = services.gift_price_change_schedule(
            gift=instance.gift,
            coin_price=instance.coin_price,
            effective_at=instance.effective_at,
            actor=kwargs.get("user"),
        )
        instance.pk, instance.created_by = scheduled.pk, scheduled.created_by
