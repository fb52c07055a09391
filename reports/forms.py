import datetime

from django import forms
from django.conf import settings

from .selectors import (
    BOOKS_MAX_DAYS,
    DASHBOARD_DAYS,
    DASHBOARD_DAYS_DEFAULT,
    books_default_range,
)


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


class BooksRangeForm(forms.Form):
    """Which UTC days the books cover: both days included; last month by default."""

    start = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label="To (included)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, data, *, today: datetime.date):
        first, last = books_default_range(today)
        given = {name: data[name] for name in ("start", "end") if data.get(name)}
        super().__init__({"start": first, "end": last, **given})

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The last day comes before the first.")
            elif (end - start).days + 1 > BOOKS_MAX_DAYS:
                self.add_error(
                    "end",
                    f"At most {BOOKS_MAX_DAYS} days at once: "
                    f"this range has {(end - start).days + 1}.",
                )
        return cleaned
