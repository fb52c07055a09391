from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.widgets import CharWidget, ManyToManyWidget

from .models import Gift, Region


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
