from django import forms
from django.conf import settings

from .selectors import DASHBOARD_DAYS, DASHBOARD_DAYS_DEFAULT


class DashboardRangeForm(forms.Form):
    """What the dashboard's charts show: how many days back, which currency's sales."""

    days = forms.TypedChoiceField(
        label="Days",
        choices=[(days, f"Last {days} days") for days in DASHBOARD_DAYS],
        coerce=int,
    )
    currency = forms.ChoiceField(
        label="Sales in",
        choices=[(code, code) for code in settings.CURRENCIES],
    )

    def __init__(self, query):
        defaults = {"days": DASHBOARD_DAYS_DEFAULT, "currency": settings.BASE_CURRENCY}
        self.asked = set(query)
        super().__init__({**defaults, **query.dict()})
        if not self.is_valid():
            # The lists show what the charts show; the errors say what was refused.
            self.data = {**self.data, **{name: defaults[name] for name in self.errors}}
            self.cleaned_data.update({name: defaults[name] for name in self.errors})

    def choice(self) -> tuple[int, str]:
        """The days and currency to show: what was asked, or each one's default
        where it was no choice of the lists (its error stays on the form)."""
        return self.cleaned_data["days"], self.cleaned_data["currency"]

    def currency_shown(self, selling: list[str]) -> str:
        """The currency whose sales to chart: the one asked for; when none was,
        the base currency if it sold in the range, else the first that did."""
        currency = self.cleaned_data["currency"]
        if "currency" in self.asked or currency in selling or not selling:
            return currency
        self.data = {**self.data, "currency": selling[0]}
        return selling[0]
