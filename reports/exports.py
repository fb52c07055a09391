"""The books as a file: one table of figures, the same in CSV and XLSX.

Figures are exact: coins as integers, diamonds with their four decimals, cash as
`Decimal` in its currency; never a float, and no text a spreadsheet could run
(`core.exports.spreadsheet_safe`, as in the admin lists' exports).
"""

import csv
import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font

from core.exports import spreadsheet_safe, xlsx_text
from wallets.units import diamonds_from_units

from .selectors import Books

COLUMNS = ("section", "line", "currency", "store", "unit", "value")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def books_rows(books: Books) -> list[tuple]:
    """The books as (section, line, currency, store, unit, value) rows."""
    first, last = books.first_day.isoformat(), books.last_day.isoformat()
    rows: list[tuple] = [
        ("Range", "First day (UTC)", "", "", "date", first),
        ("Range", "Last day (UTC, included)", "", "", "date", last),
    ]
    for line in books.sales:
        where = (line.currency, line.store_label)
        money = line.currency
        rows += [
            ("Sales", "Purchases", *where, "count", line.purchases),
            ("Sales", "Paid coins sold", *where, "coins", line.paid_coins),
            ("Sales", "Bonus coins granted", *where, "coins", line.bonus_coins),
            ("Sales", "Revenue", *where, money, line.revenue.amount),
            ("Refunds", "Purchases refunded", *where, "count", line.refunds),
            ("Refunds", "Refunded", *where, money, line.refunded.amount),
            (
                "Refunds",
                "Paid coins taken back",
                *where,
                "coins",
                line.paid_coins_taken_back,
            ),
            (
                "Refunds",
                "Bonus coins taken back",
                *where,
                "coins",
                line.bonus_coins_taken_back,
            ),
            ("Unrecovered store refunds", "Count", *where, "count", line.unrecovered),
            (
                "Unrecovered store refunds",
                "Paid coins spent before the refund",
                *where,
                "coins",
                line.unrecovered_paid_coins,
            ),
            (
                "Unrecovered store refunds",
                "Bonus coins not taken back",
                *where,
                "coins",
                line.unrecovered_bonus_coins,
            ),
            (
                "Unrecovered store refunds",
                "Value of the paid coins spent",
                *where,
                money,
                line.unrecovered_value.amount,
            ),
        ]
    rows += [
        ("Gifts", "Bonus coins spent", "", "", "coins", books.gift_bonus_coins),
        ("Gifts", "Paid coins spent", "", "", "coins", books.gift_paid_coins),
        (
            "Diamonds",
            "Issued to creators",
            "",
            "",
            "diamonds",
            diamonds_from_units(books.diamonds_to_creators),
        ),
        (
            "Diamonds",
            "Issued as the platform's share",
            "",
            "",
            "diamonds",
            diamonds_from_units(books.diamonds_to_platform),
        ),
        (
            "Diamonds",
            "Taken back by the earnings hold",
            "",
            "",
            "diamonds",
            diamonds_from_units(books.diamonds_taken_back_by_hold),
        ),
        *(
            ("Subscriptions", what, "", "", unit, value)
            for what, unit, value in (
                ("Bonus coins spent", "coins", books.subscription_bonus_coins),
                ("Paid coins spent", "coins", books.subscription_paid_coins),
                (
                    "Bonus coins refunded",
                    "coins",
                    books.subscription_refunded_bonus_coins,
                ),
                (
                    "Paid coins refunded",
                    "coins",
                    books.subscription_refunded_paid_coins,
                ),
                (
                    "Diamonds issued to creators",
                    "diamonds",
                    diamonds_from_units(books.subscription_diamonds_to_creators),
                ),
                (
                    "Diamonds issued as the platform's share",
                    "diamonds",
                    diamonds_from_units(books.subscription_diamonds_to_platform),
                ),
                (
                    "Diamonds taken back from creators by refunds",
                    "diamonds",
                    diamonds_from_units(books.subscription_diamonds_back_from_creators),
                ),
                (
                    "Platform's share taken back by refunds",
                    "diamonds",
                    diamonds_from_units(books.subscription_diamonds_back_from_platform),
                ),
            )
        ),
        ("Liability", "Paid coins at start", "", "", "coins", books.paid_coins_opening),
        ("Liability", "Paid coins at end", "", "", "coins", books.paid_coins_closing),
        (
            "Liability",
            "Diamonds outstanding at start",
            "",
            "",
            "diamonds",
            diamonds_from_units(books.diamonds_outstanding_opening),
        ),
        (
            "Liability",
            "Diamonds outstanding at end",
            "",
            "",
            "diamonds",
            diamonds_from_units(books.diamonds_outstanding_closing),
        ),
    ]
    for moment, liability in (
        ("start", books.cash_liability_opening),
        ("end", books.cash_liability_closing),
    ):
        if liability is not None:
            code = liability.currency.code
            rows.append(
                (
                    "Liability",
                    f"Cash value of the diamonds at {moment}",
                    code,
                    "",
                    code,
                    liability.amount,
                )
            )
    for payouts in books.payouts:
        code = payouts.currency
        rows += [
            ("Payouts paid", "Payouts", code, "", "count", payouts.payouts),
            (
                "Payouts paid",
                "Diamonds paid out",
                code,
                "",
                "diamonds",
                diamonds_from_units(payouts.diamond_units),
            ),
            ("Payouts paid", "Gross", code, "", code, payouts.gross.amount),
            ("Payouts paid", "Fees", code, "", code, payouts.fees.amount),
            ("Payouts paid", "Net paid", code, "", code, payouts.net.amount),
        ]
    for line in books.tie_outs:
        section = f"Tie-out: {line.label}"
        unit = "diamonds" if line.unit == "diamond" else "coins"

        def amount(units, unit=unit):
            return diamonds_from_units(units) if unit == "diamonds" else units

        rows.append((section, "Opening", "", "", unit, amount(line.opening)))
        rows += [
            (section, f"Movement: {label}", "", "", unit, amount(moved))
            for label, moved in line.movements
        ]
        rows.append((section, "Closing", "", "", unit, amount(line.closing)))
        rows.append((section, "Verdict", "", "", "", tie_verdict(line.difference)))
    return rows


def tie_verdict(difference: int) -> str:
    return "ties" if difference == 0 else f"differs by {difference:+d} units"


def _safe(row: tuple, safe=spreadsheet_safe) -> list:
    return [safe(cell) for cell in row]


def books_csv(books: Books) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(_safe(row) for row in books_rows(books))
    return out.getvalue().encode()


def books_xlsx(books: Books) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Books"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in books_rows(books):
        sheet.append(_safe(row, xlsx_text))
        value = sheet.cell(row=sheet.max_row, column=len(COLUMNS))
        if isinstance(row[-1], Decimal):
            places = -row[-1].as_tuple().exponent
            value.number_format = "0." + "0" * places if places > 0 else "0"
    for letter, width in zip("ABCDEF", (30, 36, 9, 12, 9, 18), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
