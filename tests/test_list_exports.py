"""Finance's CSV and XLSX exports of the payout, purchase, gift send and transfer
lists (issue 17): the rows the list shows with its filters and search, all pages,
exact figures, no formula a spreadsheet would run, the payout destination masked,
finance only, each export on record, and a fixed number of queries."""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.models import AuditRecord
from core.admin import ListExportMixin
from core.models import ListExport
from gifting import services as gifting_services
from gifting.models import GiftSend
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services as payout_services
from payouts.models import Payout
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, AccountKind, Purchase, Transfer
from wallets.tests.factories import leg_post, on_sale, purchase_buy, staff_create
from wallets.tests.factories import user_create as user_make

pytestmark = pytest.mark.django_db

LISTS = {
    "payouts": "/admin/payouts/payout/",
    "purchases": "/admin/wallets/purchase/",
    "gift sends": "/admin/gifting/giftsend/",
    "transfers": "/admin/wallets/transfer/",
}


def _export(client, url, query="", file_format="csv"):
    response = client.post(f"{url}export/{query}", {"format": file_format})
    assert response.status_code == 200, response
    content = b"".join(response.streaming_content)
    return response, content


def _csv(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


@pytest.fixture
def finance(client):
    user = staff_create(FINANCE, username="fin-export")
    client.force_login(user)
    return user


def _gift(sender, creator, gift, n, comment=""):
    return gifting_services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=n,
        placement="live",
        stream_id=f"stream-{n}",
        comment=comment,
        region=None,
        idempotency_key=f"gift-{sender.id}-{n}-{comment[:4]}",
    ).gift_send


def _bonus_coins(user, amount, reference) -> Transfer:
    return leg_post(
        debit=ledger.system_account(AccountKind.COIN_ISSUANCE),
        credit=ledger.user_account(user, AccountKind.BONUS_COINS),
        amount=amount,
        kind=Transfer.Kind.ADJUSTMENT,
        reference=reference,
        idempotency_key=reference,
    )


def _asked(creator, diamonds, key) -> Payout:
    return payout_services.payout_request(
        creator=creator, diamond_units=diamonds * DIAMOND_SCALE, idempotency_key=key
    ).payout


# Payouts.


def test_the_payout_export_has_exact_figures_approvers_and_a_masked_destination(
    client, finance
):
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    creator = rich_creator(
        display_name='=HYPERLINK("http://evil","pay")',
        paypal_email="lena.park@example.com",
    )
    payout = _asked(creator, 30_000, "paid")
    payout_services.payout_approve(payout=payout, actor=alice)
    payout_services.payouts_send(payout_ids=[payout.id])
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID

    response, content = _export(client, LISTS["payouts"], "?queue=all")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="payouts-')
    (row,) = _csv(content)
    assert row["id"] == str(payout.id)
    assert row["reference"] == payout.reference
    assert row["creator"] == '\'=HYPERLINK("http://evil","pay")'
    assert row["diamonds"] == "30000.0000"
    assert Decimal(row["gross"]) == payout.gross_amount
    assert Decimal(row["fee"]) == payout.fee_amount
    assert Decimal(row["net"]) == payout.net_amount
    assert Decimal(row["gross"]) == Decimal(row["fee"]) + Decimal(row["net"])
    assert (row["currency"], Decimal(row["rate (cash a diamond)"])) == (
        "USD",
        payout.rate,
    )
    assert row["status"] == "Paid"
    assert row["destination (masked)"] == "l***@example.com"
    assert b"lena.park" not in content
    assert row["first approver"] == alice.username
    assert row["second approver"] == ""
    assert row["requested at (UTC)"] and row["approved at (UTC)"]
    assert row["paid at (UTC)"] >= row["approved at (UTC)"]
    assert row["provider id"] == payout.provider_id != ""
    assert bob.username not in content.decode()


def test_the_payout_export_keeps_the_queue_filter_and_search(client, finance):
    noor = rich_creator(display_name="Noor")
    kai = rich_creator(display_name="Kai")
    waiting = _asked(noor, 20_000, "noor")
    rejected = _asked(kai, 25_000, "kai")
    payout_services.payout_reject(
        payout=rejected, actor=staff_create(FINANCE), reason="x"
    )

    # The queue opens on what waits for a decision: the file has the same rows.
    _, content = _export(client, LISTS["payouts"])
    assert [row["id"] for row in _csv(content)] == [str(waiting.id)]
    _, content = _export(client, LISTS["payouts"], "?queue=done")
    assert [row["id"] for row in _csv(content)] == [str(rejected.id)]
    _, content = _export(client, LISTS["payouts"], "?queue=all&q=Kai")
    assert [row["id"] for row in _csv(content)] == [str(rejected.id)]
    assert list(ListExport.objects.values_list("query", "rows")) == [
        ("queue=all&q=Kai", 1),
        ("queue=done", 1),
        ("", 1),
    ]


# Purchases.


def test_the_purchase_export_keeps_the_filters_and_has_the_refund(client, finance):
    buyer = user_make(username="+buyer")
    bundle, region = on_sale(coins=500, amount="4.99", bonus_coins=50)
    kept = purchase_buy(buyer, bundle, region, key="kept")
    refunded = purchase_buy(buyer, bundle, region, key="refunded")
    wallet_services.purchase_refund(
        purchase=refunded.purchase,
        actor=finance,
        reason="@SUM(1+1) chargeback",
        source=Purchase.RefundSource.FINANCE,
    )

    _, content = _export(client, LISTS["purchases"], "?status__exact=refunded")
    (row,) = _csv(content)
    purchase = Purchase.objects.get(id=refunded.purchase.id)
    assert row["id"] == str(purchase.id) != str(kept.purchase.id)
    assert row["buyer"] == "'+buyer"
    assert (row["store"], row["channel"], row["region"]) == (
        "App Store",
        "In-app store",
        "US",
    )
    assert row["bundle"] == bundle.sku
    assert (row["price"], row["currency"]) == ("4.99", "USD")
    assert (row["paid coins"], row["bonus coins (bundle)"]) == ("500", "50")
    assert row["status"] == "Refunded"
    assert row["refunded by"] == finance.username
    assert row["refund source"] == "Finance"
    assert row["refund reason"] == "'@SUM(1+1) chargeback"
    assert row["refunded at (UTC)"].startswith(str(purchase.refunded_at.date()))

    _, content = _export(client, LISTS["purchases"], "?q=%2Bbuyer")
    assert {row["id"] for row in _csv(content)} == {
        str(kept.purchase.id),
        str(purchase.id),
    }


def test_the_xlsx_export_reads_back_with_exact_figures(client, finance):
    buyer = user_make()
    bundle, region = on_sale(coins=100, amount="0.99")
    bought = purchase_buy(buyer, bundle, region, key="one").purchase

    response, content = _export(client, LISTS["purchases"], file_format="xlsx")

    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.title == "purchases"
    header, row = list(sheet.iter_rows(values_only=True))
    values = dict(zip(header, row, strict=True))
    assert values["id"] == bought.id
    assert values["paid coins"] == 100
    assert Decimal(str(values["price"])) == Decimal("0.99")
    assert sheet.cell(row=2, column=header.index("price") + 1).number_format == "0.00"
    assert values["time (UTC)"] == bought.created_at.replace(tzinfo=None, microsecond=0)
    export = ListExport.objects.get()
    assert (export.format, export.rows) == ("xlsx", 1)


def test_an_xlsx_past_its_cap_exports_nothing_and_says_csv_has_none(
    client, finance, monkeypatch
):
    buyer = user_make()
    bundle, region = on_sale()
    purchase_buy(buyer, bundle, region, key="a")
    purchase_buy(buyer, bundle, region, key="b")
    monkeypatch.setattr(ListExportMixin, "export_xlsx_max_rows", 1)

    response = client.post(
        f"{LISTS['purchases']}export/?store__exact=apple", {"format": "xlsx"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{LISTS['purchases']}?store__exact=apple"
    page = client.get(response["Location"])
    assert "this list has 2 rows and an XLSX file takes at most 1" in (
        page.content.decode()
    )
    assert not ListExport.objects.exists()
    _, content = _export(client, LISTS["purchases"], "?store__exact=apple")
    assert len(_csv(content)) == 2


# Gift sends.


def test_the_gift_send_export_has_the_split_and_neutralises_the_comment(
    client, finance
):
    sender = funded_sender(coins=1_000)
    creator = creator_create(display_name="-Mia")
    lion = rose(slug="lion", name="Lion Dance", coin_price=50)
    other = rose(slug="rose-x", name="Rose", coin_price=1)
    send = _gift(sender, creator, lion, 3, comment='=cmd|" /C calc"!A0')
    _gift(sender, creator, other, 2)

    _, content = _export(client, LISTS["gift sends"], f"?gift__id__exact={lion.id}")

    (row,) = _csv(content)
    send = GiftSend.objects.get(id=send.id)
    assert row["id"] == str(send.id)
    assert (row["sender"], row["creator"]) == (sender.username, "'-Mia")
    assert (row["gift"], row["quantity"], row["coins"]) == ("Lion Dance", "3", "150")
    assert row["coin price (stamped)"] == "50"
    assert Decimal(row["share percent"]) == send.share_percent
    creator_part = Decimal(row["creator diamonds"])
    platform_part = Decimal(row["platform diamonds"])
    assert creator_part * DIAMOND_SCALE == send.creator_diamond_units
    assert creator_part + platform_part == 150  # the exact split, to the unit
    assert (row["placement"], row["stream id"]) == ("Live stream", "stream-3")
    assert row["comment"] == '\'=cmd|" /C calc"!A0'


# Transfers.


def test_the_transfer_export_keeps_the_kind_filter_with_coins_and_diamonds(
    client, finance
):
    creator = rich_creator(diamonds=12)
    user = user_make()
    _bonus_coins(user, 7, "adjustment:1")

    _, content = _export(client, LISTS["transfers"], "?kind__exact=gift_earning")
    (row,) = _csv(content)
    assert row["kind"] == "Gift earning"
    assert row["unit"] == "diamond"
    assert row["amount"] == "12.0000"
    assert row["credit account"] == f"{creator.user.username} · Diamonds"

    _, content = _export(client, LISTS["transfers"], "?kind__exact=adjustment")
    (row,) = _csv(content)
    assert (row["unit"], row["amount"], row["reference"]) == (
        "coin",
        "7",
        "adjustment:1",
    )


# Who may export, and the record.


@pytest.mark.parametrize("role", [SUPPORT, CATALOG_EDITORS])
@pytest.mark.parametrize("name", LISTS)
def test_support_and_catalog_staff_see_no_export_and_get_403(client, role, name):
    client.force_login(staff_create(role))
    page = client.get(LISTS[name])
    assert b"Export CSV" not in page.content
    assert client.post(f"{LISTS[name]}export/", {"format": "csv"}).status_code == 403
    assert not ListExport.objects.exists()


@pytest.mark.parametrize("name", LISTS)
def test_finance_sees_both_exports_on_every_list(client, finance, name):
    page = client.get(LISTS[name] + "?q=x")
    html = page.content.decode()
    assert "Export CSV" in html and "Export XLSX" in html
    # The form posts to the export with the list's filters and search.
    assert f'action="{LISTS[name]}export/?q=x"' in html


def test_each_export_is_on_record_and_in_the_audit(client, finance):
    user = user_make()
    _bonus_coins(user, 5, "adjustment:2")

    _export(client, LISTS["transfers"], "?unit__exact=coin&p=3")

    export = ListExport.objects.get()
    assert export.actor == finance
    assert export.list_label == "wallets.Transfer"
    assert (export.query, export.rows, export.format) == ("unit__exact=coin", 1, "csv")
    (record,) = AuditRecord.objects.filter(model="core.ListExport")
    assert record.operation == "insert" and record.actor == finance
    with pytest.raises(TypeError):
        export.save()
    with pytest.raises(TypeError):
        ListExport.objects.all().delete()


def test_finance_reads_the_record_and_nobody_changes_it(client, finance):
    _export(client, LISTS["transfers"])
    page = client.get("/admin/core/listexport/")
    assert page.status_code == 200 and "wallets.Transfer" in page.content.decode()
    export = ListExport.objects.get()
    assert client.post(f"/admin/core/listexport/{export.id}/delete/").status_code == 403
    client.force_login(staff_create(SUPPORT))
    assert client.get("/admin/core/listexport/").status_code == 403


def test_opening_the_export_address_or_a_bad_format_exports_nothing(client, finance):
    url = LISTS["transfers"] + "export/"
    assert client.get(url, {"format": "csv"}).status_code == 405
    refused = client.post(url + "?kind__exact=gift", {"format": "pdf"})
    assert refused.status_code == 302
    assert refused["Location"] == LISTS["transfers"] + "?kind__exact=gift"
    refused = client.post(url + "?nonsense=1", {"format": "csv"})
    assert refused.status_code == 302
    assert not ListExport.objects.exists()


# The cost: a fixed number of queries for 1 row and for 20.


def _more_payouts(n):
    creator = rich_creator(diamonds=1_000_000)
    finance = staff_create(FINANCE)
    for i in range(n):
        payout = _asked(creator, 20_000, f"more-{creator.id}-{i}")
        payout_services.payout_reject(payout=payout, actor=finance, reason="no")


def _more_purchases(n):
    buyer = user_make()
    bundle, region = on_sale()
    for i in range(n):
        purchase_buy(buyer, bundle, region, key=f"more-{buyer.id}-{i}")


def _more_gift_sends(n):
    sender = funded_sender(coins=10_000)
    creator = creator_create()
    gift = rose(slug=f"g{sender.id}")
    for i in range(n):
        _gift(sender, creator, gift, i + 1)


def _more_transfers(n):
    user = user_make()
    for i in range(n):
        _bonus_coins(user, i + 1, f"more:{user.id}:{i}")


MORE = {
    "payouts": (_more_payouts, "?queue=all"),
    "purchases": (_more_purchases, ""),
    "gift sends": (_more_gift_sends, ""),
    "transfers": (_more_transfers, ""),
}


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@pytest.mark.parametrize("name", LISTS)
def test_an_export_costs_the_same_queries_for_1_row_and_for_20(
    client, finance, name, file_format, django_assert_num_queries
):
    more, query = MORE[name]
    more(1)
    _export(client, LISTS[name], query, file_format)  # caches warmed
    with CaptureQueriesContext(connection) as one:
        _, content = _export(client, LISTS[name], query, file_format)
    more(19)
    rows = ListExport.objects.count()
    with django_assert_num_queries(len(one.captured_queries)):
        _, content = _export(client, LISTS[name], query, file_format)
    assert ListExport.objects.count() == rows + 1
    assert ListExport.objects.first().rows >= 20
    assert len(one.captured_queries) <= 15
