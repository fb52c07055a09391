"""Figures drawn for people: the dashboard's bar charts."""

from djmoney.money import Money

from core import display


def bar_chart(title: str, series, money: bool = False) -> dict:
    """Bars as SVG rectangles: 30 days, scaled to the busiest day. With `money`
    the series' label is its currency."""

    def shown(value) -> str:
        return (
            display.money(Money(value, series.label))
            if money
            else display.number(value)
        )

    width, height = 12, 120
    peak = series.peak or 1
    bars = [
        {
            "x": index * (width + 2),
            "height": round(float(value / peak) * height, 1),
            "y": round(height - float(value / peak) * height, 1),
            "label": f"{day:%b %d}: {shown(value)}",
        }
        for index, (day, value) in enumerate(
            zip(series.days, series.values, strict=True)
        )
    ]
    return {
        "title": title,
        "bars": bars,
        "width": len(bars) * (width + 2),
        "height": height,
        "bar_width": width,
        "total": shown(series.total),
        "peak": shown(series.peak),
    }
