"""Figures drawn for people: the dashboard's bar charts."""


def bar_chart(title: str, series, money: bool = False) -> dict:
    """Bars as SVG rectangles: 30 days, scaled to the busiest day."""
    width, height = 12, 120
    peak = series.peak or 1
    bars = [
        {
            "x": index * (width + 2),
            "height": round(float(value / peak) * height, 1),
            "y": round(height - float(value / peak) * height, 1),
            "label": f"{day:%b %d}: {value:,.2f}"
            if money
            else f"{day:%b %d}: {value:,.0f}",
        }
        for index, (day, value) in enumerate(
            zip(series.days, series.values, strict=True)
        )
    ]
    total = f"{series.total:,.2f}" if money else f"{series.total:,.0f}"
    return {
        "title": title,
        "bars": bars,
        "width": len(bars) * (width + 2),
        "height": height,
        "bar_width": width,
        "total": total,
        "peak": f"{series.peak:,.2f}" if money else f"{series.peak:,.0f}",
    }
