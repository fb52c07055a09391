"""Figures drawn for people: the dashboard's daily charts, as Chart.js reads them
(reports/static/reports/dashboard.js) and as a table for those who cannot see it."""

from dataclasses import dataclass

from babel.dates import format_date
from babel.numbers import get_currency_precision
from djmoney.money import Money

from core import display


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    # One sentence for screen readers and pages without script: the total and peak.
    summary: str
    # (date as the page writes it, the value as the page writes it), oldest first.
    rows: list[tuple[str, str]]
    # What the script draws; Decimals go as strings, never through a float here.
    figures: dict

    @property
    def script_id(self) -> str:
        return f"chart-{self.key}"


def daily_chart(key: str, title: str, series, *, currency: str | None = None) -> Chart:
    """A bar a day. With `currency` the values are money in it, else coins."""
    locale = display.locale()

    def shown(value) -> str:
        return (
            display.money(Money(value, currency))
            if currency
            else display.coins(int(value), unit="coin")
        )

    dates = [format_date(day, format="medium", locale=locale) for day in series.days]
    busiest = max(
        range(len(series.values)), key=series.values.__getitem__, default=None
    )
    summary = f"{title}, {len(series.days)} days: {shown(series.total)} in all"
    if busiest is not None and series.values[busiest]:
        summary += f", {shown(series.peak)} on {dates[busiest]}, the busiest day"
    return Chart(
        key=key,
        title=title,
        summary=f"{summary}.",
        rows=[
            (date, shown(value))
            for date, value in zip(dates, series.values, strict=True)
        ],
        figures={
            "title": title,
            "locale": display.language_tag(),
            "currency": currency,
            "digits": get_currency_precision(currency) if currency else 0,
            "labels": [format_date(day, "MMM d", locale=locale) for day in series.days],
            "dates": dates,
            "values": [str(value) for value in series.values],
            "shown": [shown(value) for value in series.values],
        },
    )
