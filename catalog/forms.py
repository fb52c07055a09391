from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.utils import timezone
from djmoney.contrib.exchange.models import Rate
from djmoney.money import Money
from djmoney.settings import CURRENCY_CHOICES
from import_export.forms import SelectableFieldsExportForm

from . import pricing, selectors, services
from .models import BundlePrice, CoinBundle, Region


def time_zone_note() -> str:
    """Which time zone a typed moment is read in, said beside the field."""
    return f"Read in {timezone.get_current_timezone_name()}, the admin's time zone."


def price_errors_add(form: forms.Form, error: ValidationError) -> None:
    """A price service's refusal, each message beside its field: the moment's, or
    the price named by the key ("price_JP_app", "price_12")."""
    for key, messages in error.message_dict.items():
        field = "prices_effective_at" if key == "effective_at" else f"price_{key}"
        form.add_error(field, messages)


def is_new_price(amount, current, currency: str) -> bool:
    """A price grid's cell asks for a new price: filled, and not the price in force
    (`current`, a BundlePrice or None), so an untouched cell writes nothing."""
    if amount is None:
        return False
    return (current.price if current else None) != Money(amount, currency)


class CoinBundleForm(forms.ModelForm):
    """A bundle's fields and its price grid: a cell per region and channel holding
    the price in force now. Each changed cell becomes a new hand-set price."""

    prices_effective_at = forms.SplitDateTimeField(
        required=False,
        widget=AdminSplitDateTime,
        label="Changed prices take effect",
        help_text="Empty: now. A moment in the past is refused.",
    )

    # The admin sets this per request: may this user add prices?
    can_edit_prices = False

    class Meta:
        model = CoinBundle
        fields = (
            "sku",
            "coins",
            "bonus_coins",
            "base_price",
            "sort_order",
            "is_active",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = timezone.now()
        self.new_prices = {}
        self.grid = selectors.bundle_price_grid(bundle=self.instance, when=self.now)
        if not self.can_edit_prices:
            # Who may not add prices reads them: values on the page, no inputs.
            del self.fields["prices_effective_at"]
            return
        self.fields["prices_effective_at"].help_text += f" {time_zone_note()}"
        for region, cells in self.grid:
            for cell in cells:
                self.fields[self.cell_name(region, cell.channel)] = forms.DecimalField(
                    required=False,
                    max_digits=14,
                    decimal_places=2,
                    label=f"{region.code} {BundlePrice.Channel(cell.channel).label}",
                    initial=(
                        pricing.amount_text(cell.current.price)
                        if cell.current
                        else None
                    ),
                    widget=forms.TextInput(attrs={"size": 10}),
                )

    @staticmethod
    def cell_name(region, channel: str) -> str:
        return f"price_{services.price_cell_key(region, channel)}"

    def grid_rows(self):
        """(region, [(bound field, cell), ...]) for the template; the field is None
        for who may only read the prices."""
        return [
            (region, [(self._cell_field(region, c.channel), c) for c in cells])
            for region, cells in self.grid
        ]

    def _cell_field(self, region, channel: str):
        name = self.cell_name(region, channel)
        return self[name] if name in self.fields else None

    def clean(self):
        cleaned = super().clean()
        for region, cells in self.grid:
            for cell in cells:
                amount = cleaned.get(self.cell_name(region, cell.channel))
                if is_new_price(amount, cell.current, region.currency):
                    self.new_prices[region, cell.channel] = amount
        if self.new_prices:
            try:
                services.bundle_prices_build(
                    bundle=self.instance,
                    prices=self.new_prices,
                    effective_at=cleaned.get("prices_effective_at"),
                    now=self.now,
                    actor=None,
                )
            except ValidationError as error:
                price_errors_add(self, error)
        return cleaned


class RegionStorePicker(forms.Form):
    """Which region and store the price grid shows; a search form, not an edit."""

    region = forms.ModelChoiceField(
        queryset=Region.objects.order_by("code"), to_field_name="code"
    )
    channel = forms.ChoiceField(choices=BundlePrice.Channel.choices, label="Store")


class RegionPriceGridForm(forms.Form):
    """Every bundle's price in one region and store: a row per bundle with the price
    in force and an input for a new one. Each filled row becomes a new hand-set
    price; the lot is saved or nothing is."""

    prices_effective_at = forms.SplitDateTimeField(
        required=False,
        widget=AdminSplitDateTime,
        label="New prices take effect",
    )

    def __init__(self, *args, region, channel: str, can_edit: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.region, self.channel, self.can_edit = region, channel, can_edit
        self.now = timezone.now()
        self.new_prices = {}
        self.rows = selectors.region_price_grid(
            region=region, channel=channel, when=self.now
        )
        if not can_edit:
            # Who may not set prices reads them: values on the page, no inputs.
            del self.fields["prices_effective_at"]
            return
        self.fields[
            "prices_effective_at"
        ].help_text = f"Empty: now. A moment in the past is refused. {time_zone_note()}"
        for row in self.rows:
            self.fields[self.row_name(row.bundle)] = forms.DecimalField(
                required=False,
                max_digits=14,
                decimal_places=2,
                label=f"New price of {row.bundle}",
                widget=forms.TextInput(attrs={"size": 10, "inputmode": "decimal"}),
            )

    @staticmethod
    def row_name(bundle) -> str:
        return f"price_{bundle.id}"

    def grid_rows(self):
        """(row, bound field) for the template; the field is None for who may only
        read the prices."""
        names = [self.row_name(row.bundle) for row in self.rows]
        return [
            (row, self[name] if name in self.fields else None)
            for row, name in zip(self.rows, names, strict=True)
        ]

    def clean(self):
        cleaned = super().clean()
        for row in self.rows:
            amount = cleaned.get(self.row_name(row.bundle))
            if is_new_price(amount, row.current, self.region.currency):
                self.new_prices[row.bundle] = amount
        if self.new_prices:
            try:
                services.region_prices_build(
                    region=self.region,
                    channel=self.channel,
                    prices=self.new_prices,
                    effective_at=cleaned.get("prices_effective_at"),
                    now=self.now,
                    actor=None,
                )
            except ValidationError as error:
                price_errors_add(self, error)
        return cleaned

    def save(self, *, actor) -> list[BundlePrice]:
        return services.region_prices_set(
            region=self.region,
            channel=self.channel,
            prices=self.new_prices,
            effective_at=self.cleaned_data.get("prices_effective_at"),
            actor=actor,
        )


class RateForm(forms.ModelForm):
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES)

    class Meta:
        model = Rate
        fields = ("backend", "currency", "value")
        help_texts = {"value": "Units of the currency per one unit of the base."}

    def clean_value(self):
        value = self.cleaned_data["value"]
        if value <= 0:
            raise ValidationError("A rate must be more than zero.")
        return value


class FirstFormatExportForm(SelectableFieldsExportForm):
    """The export form with the first of IMPORT_EXPORT_FORMATS selected, not "---"."""

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["format"].initial = "0"
