from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from djmoney.money import Money
from import_export import fields, resources
from import_export.widgets import (
    CharWidget,
    DateTimeWidget,
    ForeignKeyWidget,
    ManyToManyWidget,
)

from . import pricing, selectors
from .models import BundlePrice, CoinBundle, Gift, Region, new_price_moment


class RegionCodesWidget(ManyToManyWidget):
    """Region codes split by `|`; an unknown code is a row error, not dropped."""

    def __init__(self):
        super().__init__(Region, separator="|", field="code")

    def clean(self, value, row=None, **kwargs):
        codes = {
            code.strip().upper() for code in str(value or "").split("|") if code.strip()
        }
        regions = list(Region.objects.filter(code__in=codes))
        unknown = codes - {region.code for region in regions}
        if unknown:
            raise ValueError(f"Unknown region code(s): {', '.join(sorted(unknown))}.")
        return regions


class GiftResource(resources.ModelResource):
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
        fields = (
            "slug",
            "name",
            "coin_price",
            "category",
            "placement",
            "description",
            "sort_order",
            "is_active",
            "available_from",
            "available_until",
            "regions",
            "sponsor_name",
            "sponsor_starts_at",
            "sponsor_ends_at",
        )
        export_order = fields
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

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
        key = str(value or "").strip()
        if self.uppercase:
            key = key.upper()
        if not key:
            raise ValueError("Required.")
        try:
            return self.model.objects.get(**{self.field: key})
        except self.model.DoesNotExist:
            raise ValueError(f"Unknown {self.label}: {key}.") from None


class BundlePriceResource(resources.ModelResource):
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
        attribute="effective_at", column_name="effective_at", widget=DateTimeWidget()
    )
    source = fields.Field(attribute="source", column_name="source", readonly=True)

    class Meta:
        model = BundlePrice
        fields = (
            "sku",
            "region",
            "channel",
            "price",
            "currency",
            "effective_at",
            "source",
        )
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
        except ValueError as error:
            errors["price"] = [str(error)]
        instance.source = BundlePrice.Source.MANUAL
        instance.created_by = kwargs.get("user")
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def _price(region: Region | None, row) -> Money:
        # XLSX numbers arrive as floats: read their text, not their binary value.
        try:
            return pricing.price_parse(
                amount=str(row.get("price")),
                currency=str(row.get("currency") or ""),
                region=region,
            )
        except ValidationError as error:
            raise ValueError(error.messages[0]) from None

    def skip_row(self, instance, original, row, import_validation_errors=None):
        # A row already there is skipped even if its moment has passed since export.
        if set(import_validation_errors or ()) - {"effective_at"}:
            return False
        if row.get("effective_at"):
            return BundlePrice.objects.filter(
                bundle=instance.bundle,
                region=instance.region,
                channel=instance.channel,
                effective_at=instance.effective_at,
                price=instance.price,
            ).exists()
        current = selectors.bundle_price_current(
            bundle=instance.bundle,
            region=instance.region,
            channel=instance.channel,
            when=self.now,
        )
        return current is not None and current.price == instance.price
