"""Finance's Books page and its exports: who may open and download them, the
range form's errors, the files' figures (the XLSX read back with openpyxl), and
the audit record each download leaves."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.models import AuditRecord
from reports.models import BooksExport
from wallets.tests.factories import staff_create

from .test_books import scene, today

pytestmark = pytest.mark.django_db
URL = "/admin/reports/books/"
EXPORT = "/admin/reports/books/export/"


def _range(**extra) -> dict:
    return {"start": today().isoformat(), "end": today().isoformat(), **extra}


def test_finance_reads_the_books_with_their_tie_out(client):
    scene()
    client.force_login(staff_create(FINANCE))

    page = client.get(URL, _range())

    assert page.status_code == 200
    html = page.content.decode()
    assert "Every ledger group ties out" in html
    assert "JPY · App Store" in html and "USD · Web store" in html
    # Money through core.display: currency symbols and the currency's digits.
    assert "$9.98" in html and "¥800" in html and "$98.75" in html
    assert "40,030" in html  # diamonds outstanding at the end
    # Nothing owed at the start is still valued: $0.00 at the rate, not "no rate".
    assert "$0.00 at 0.005" in html and "no rate" not in html
    assert html.count(">ties<") == len(page.context["books"].tie_outs)
    assert "Download these books" in html


def test_the_page_opens_on_last_full_month_by_default(client):
    client.force_login(staff_create(FINANCE))
    page = client.get(URL)
    books = page.context["books"]
    first = today().replace(day=1) - datetime.timedelta(days=1)
    assert (books.first_day, books.last_day) == (first.replace(day=1), first)


@pytest.mark.parametrize("role", [SUPPORT, CATALOG_EDITORS])
def test_support_and_catalog_staff_get_403_for_the_page_and_the_export(client, role):
    client.force_login(staff_create(role))
    assert client.get(URL).status_code == 403
    assert client.post(EXPORT, _range(format="csv")).status_code == 403
    assert not BooksExport.objects.exists()


@pytest.mark.parametrize(
    "query, field, message",
    [
        ({"start": "2026-03-10", "end": "2026-03-09"}, "end", "comes before"),
        ({"start": "2025-01-01", "end": "2026-01-02"}, "end", "At most 366 days"),
        ({"start": "2026-02-30", "end": "2026-03-01"}, "start", "valid date"),
        ({"start": "yesterday", "end": "2026-03-01"}, "start", "valid date"),
    ],
)
def test_a_bad_range_is_an_error_beside_its_field(client, query, field, message):
    client.force_login(staff_create(FINANCE))
    page = client.get(URL, query)
    assert page.status_code == 200
    assert page.context["books"] is None
    form = page.context["form"]
    assert message in " ".join(form.errors[field])
    assert "Download these books" not in page.content.decode()


def test_a_leap_year_fits_and_one_day_more_does_not(client):
    client.force_login(staff_create(FINANCE))
    leap = client.get(URL, {"start": "2028-01-01", "end": "2028-12-31"})
    assert leap.context["books"] is not None
    over = client.get(URL, {"start": "2028-01-01", "end": "2029-01-01"})
    assert over.context["books"] is None


def test_the_csv_export_holds_the_figures_and_is_on_record(client):
    scene()
    finance = staff_create(FINANCE)
    client.force_login(finance)

    response = client.post(EXPORT, _range(format="csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    day = today().isoformat()
    assert f'filename="books-{day}-to-{day}.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "line", "currency", "store", "unit", "value"]
    assert ["Sales", "Revenue", "USD", "App Store", "USD", "9.98"] in rows
    assert ["Payouts paid", "Fees", "USD", "", "USD", "1.25"] in rows
    assert ["Liability", "Paid coins at end", "", "", "coins", "580"] in rows
    verdicts = [row[5] for row in rows if row[1] == "Verdict"]
    assert verdicts and set(verdicts) == {"ties"}

    (export,) = BooksExport.objects.all()
    assert (export.actor, export.first_day, export.last_day, export.format) == (
        finance,
        today(),
        today(),
        "csv",
    )
    (record,) = AuditRecord.objects.filter(model="reports.BooksExport")
    assert record.operation == "insert"
    assert record.actor == finance
    assert (record.after["first_day"], record.after["last_day"]) == (day, day)


def test_the_xlsx_export_opens_in_a_spreadsheet_with_exact_figures(client):
    scene()
    client.force_login(staff_create(FINANCE))

    response = client.post(EXPORT, _range(format="xlsx"))

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "Books"
    rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ("section", "line", "currency", "store", "unit", "value")
    figures = {(row[0], row[1], row[2], row[3]): row[5] for row in rows[1:]}
    assert Decimal(str(figures["Sales", "Revenue", "JPY", "App Store"])) == 800
    assert Decimal(str(figures["Payouts paid", "Net paid", "USD", None])) == Decimal(
        "98.75"
    )
    assert figures["Sales", "Paid coins sold", "USD", "Web store"] == 500
    diamonds = figures["Liability", "Diamonds outstanding at end", None, None]
    assert Decimal(str(diamonds)) == 40_030
    assert BooksExport.objects.get().format == "xlsx"


def test_an_export_of_a_bad_range_or_format_writes_nothing(client):
    client.force_login(staff_create(FINANCE))
    refused = client.post(
        EXPORT, {"start": "2026-03-10", "end": "2026-03-01", "format": "csv"}
    )
    assert refused.status_code == 302
    assert refused["Location"].startswith(URL + "?start=2026-03-10")
    assert client.post(EXPORT, _range(format="pdf")).status_code == 302
    assert not BooksExport.objects.exists()
    assert not AuditRecord.objects.filter(model="reports.BooksExport").exists()


def test_opening_the_export_address_exports_nothing(client):
    client.force_login(staff_create(FINANCE))
    assert client.get(EXPORT, _range(format="csv")).status_code == 405
    assert not BooksExport.objects.exists()


def test_exports_are_never_edited_or_deleted():
    finance = staff_create(FINANCE)
    export = BooksExport.objects.create(
        actor=finance, first_day=today(), last_day=today(), format="csv"
    )
    with pytest.raises(TypeError):
        BooksExport.objects.all().delete()
    with pytest.raises(TypeError):
        BooksExport.objects.filter(pk=export.pk).update(format="xlsx")
    with pytest.raises(TypeError):
        export.save()
    with pytest.raises(TypeError):
        export.delete()
