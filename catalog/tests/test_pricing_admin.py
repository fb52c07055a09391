"""The catalog staff's pricing screens: the price grid on a bundle's page, re-pricing
with its preview, the read-only price history, and the price table's import/export."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.contrib.exchange.models import Rate
from djmoney.money import Money

from catalog import selectors, services
from catalog.models import BundlePrice, CoinBundle, Region, RepricingProposal
from catalog.resources import BundlePriceResource

from .factories import bundle_create, price_create, rate_set, region_create

pytestmark = pytest.mark.django_db

APP, WEB = BundlePrice.Channel.APP, BundlePrice.Channel.WEB
DERIVED, MANUAL = BundlePrice.Source.DERIVED, BundlePrice.Source.MANUAL
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
NOW = timezone.now()
PRICES = "/admin/catalog/bundleprice/"
BUNDLES = "/admin/catalog/coinbundle/"
PROPOSALS = "/admin/catalog/repricingproposal/"
CSV_HEADER = "sku,region,channel,price,currency,effective_at,source\n"


@pytest.fixture
def editor_client(client, catalog_editor):
    client.force_login(catalog_editor)
    return client


@pytest.fixture
def us():
    return region_create("US")


@pytest.fixture
def jp():
    rate_set("JPY", "150")
    return region_create(
        "JP",
        currency="JPY",
        price_rule=Region.PriceRule.WHOLE,
        web_discount_percent=Decimal("10"),
    )


@pytest.fixture
def bundle(us, jp):
    bundle = bundle_create(sku="coins_100", base_price=Money("0.99", "USD"))
    price_create(bundle, us, "0.99", source=DERIVED)
    price_create(bundle, jp, "149", source=DERIVED)
    price_create(bundle, jp, "134", channel=WEB, source=DERIVED)
    return bundle


def queries_for(client, url) -> int:
    """Queries a page takes, once the session is warm."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def bundle_page(bundle):
    return f"{BUNDLES}{bundle.id}/change/"


def proposal_page(proposal):
    return f"{PROPOSALS}{proposal.id}/change/"


def repricing_action(*bundles):
    return {
        "action": "propose_repricing",
        "_selected_action": [bundle.id for bundle in bundles],
    }


def grid_data(bundle, moment=None, **cells):
    """The bundle's form as the browser submits it: every cell at its current
    price unless given, e.g. JP_app="480"."""
    data = {
        "sku": bundle.sku,
        "coins": str(bundle.coins),
        "bonus_coins": str(bundle.bonus_coins),
        "base_price_0": str(bundle.base_price.amount),
        "base_price_1": "USD",
        "sort_order": str(bundle.sort_order),
        "is_active": "on",
        "prices_effective_at_0": f"{moment:%Y-%m-%d}" if moment else "",
        "prices_effective_at_1": f"{moment:%H:%M:%S}" if moment else "",
    }
    now = timezone.now()
    for region in Region.objects.all():
        for channel in (APP, WEB):
            key = f"{region.code}_{channel}"
            current = bundle.pk and selectors.bundle_price_current(
                bundle=bundle, region=region, channel=channel, when=now
            )
            data[f"price_{key}"] = cells.get(
                key, str(current.price.amount) if current else ""
            )
    return data


def test_the_bundle_page_shows_its_price_grid_in_constant_queries(
    editor_client, bundle, jp
):
    queries = queries_for(editor_client, bundle_page(bundle))
    for days in range(2, 30):
        price_create(
            bundle, jp, str(100 + days), channel=WEB, effective_at=NOW - days * DAY
        )
    price_create(bundle, jp, "160", effective_at=timezone.now() + HOUR)

    assert queries_for(editor_client, bundle_page(bundle)) == queries
    response = editor_client.get(bundle_page(bundle))
    form = response.context["adminform"].form
    assert form["price_JP_app"].value() == "149"
    assert form["price_JP_web"].value() == "134"
    assert form["price_US_web"].value() is None
    page = response.content.decode()
    assert "Prices in force now" in page
    assert "¥160 from " in page  # the scheduled price


def test_editing_a_cell_adds_a_hand_set_price_from_now(
    editor_client, catalog_editor, bundle, jp
):
    before = BundlePrice.objects.count()

    response = editor_client.post(bundle_page(bundle), grid_data(bundle, JP_app="480"))

    assert response.status_code == 302
    assert BundlePrice.objects.count() == before + 1
    row = BundlePrice.objects.latest("id")
    assert (row.region, row.channel, row.price) == (jp, APP, Money("480", "JPY"))
    assert (row.source, row.created_by) == (MANUAL, catalog_editor)
    assert row.effective_at <= timezone.now()


def test_a_cell_can_take_effect_at_a_chosen_moment(editor_client, bundle, us):
    moment = (timezone.now() + 2 * HOUR).replace(microsecond=0)

    editor_client.post(bundle_page(bundle), grid_data(bundle, moment, US_web="0.89"))

    row = BundlePrice.objects.get(region=us, channel=WEB)
    assert (row.price, row.effective_at) == (Money("0.89", "USD"), moment)


@pytest.mark.parametrize(
    ("cell", "value", "error"),
    [
        ("JP_app", "480.5", "JPY prices have 0 decimal places at most."),
        ("JP_web", "0", "A price must be more than zero."),
        ("US_app", "abc", "Enter a number."),
    ],
)
def test_a_bad_cell_shows_its_error_beside_it_and_saves_nothing(
    editor_client, bundle, cell, value, error
):
    stored = list(BundlePrice.objects.values_list("id", flat=True))
    data = grid_data(bundle, US_web="0.89", **{cell: value})
    data["bonus_coins"] = "25"

    response = editor_client.post(bundle_page(bundle), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {f"price_{cell}": [error]}
    assert error in response.content.decode()
    assert list(BundlePrice.objects.values_list("id", flat=True)) == stored
    assert CoinBundle.objects.get(id=bundle.id).bonus_coins == 0


def test_a_moment_in_the_past_is_refused_beside_it(editor_client, bundle):
    past = timezone.localtime() - HOUR
    count = BundlePrice.objects.count()

    response = editor_client.post(
        bundle_page(bundle), grid_data(bundle, past, JP_app="480")
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["prices_effective_at"]
    assert "cannot start in the past" in errors["prices_effective_at"][0]
    assert BundlePrice.objects.count() == count


def test_a_new_bundle_can_be_priced_on_its_add_page(editor_client, us, jp):
    data = grid_data(
        CoinBundle(sku="coins_50", coins=50, base_price=Money("0.49", "USD")),
        US_app="0.49",
        JP_app="75",
    )

    response = editor_client.post(f"{BUNDLES}add/", data)

    assert response.status_code == 302
    bundle = CoinBundle.objects.get(sku="coins_50")
    assert {
        (row.region.code, row.channel, row.price) for row in bundle.prices.all()
    } == {
        ("US", APP, Money("0.49", "USD")),
        ("JP", APP, Money("75", "JPY")),
    }


def test_support_sees_the_grid_but_cannot_change_a_price(client, support_user, bundle):
    client.force_login(support_user)
    count = BundlePrice.objects.count()

    page = client.get(bundle_page(bundle))
    assert page.status_code == 200
    # The prices as values: no input, not even a disabled one.
    html = page.content.decode()
    assert 'name="price_JP_app"' not in html
    assert 'name="prices_effective_at_0"' not in html
    assert '<span class="grid-price">¥149</span>' in html

    response = client.post(bundle_page(bundle), grid_data(bundle, JP_app="480"))
    assert response.status_code == 403
    assert BundlePrice.objects.count() == count


def test_bundle_changelist_in_constant_queries(editor_client):
    bundle_create()
    queries = queries_for(editor_client, BUNDLES)
    for _ in range(20):
        bundle_create()

    assert queries_for(editor_client, BUNDLES) == queries
    assert editor_client.get(BUNDLES).context["cl"].result_count == 21


def test_the_repricing_action_previews_then_apply_makes_prices_live(
    editor_client, catalog_editor, bundle, jp
):
    rate_set("JPY", "160")

    response = editor_client.post(BUNDLES, repricing_action(bundle))

    proposal = RepricingProposal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == proposal_page(proposal)
    page = editor_client.get(response["Location"])
    content = page.content.decode()
    assert "+6.0%" in content  # JP app 149 -> 158
    assert "Apply these prices now" in content
    assert BundlePrice.objects.count() == 3

    done = editor_client.post(response["Location"], {"_apply": "1"}, follow=True)

    messages = [str(m) for m in done.context["messages"]]
    assert messages == [f"Re-pricing #{proposal.id} applied: 3 new price(s)."]
    assert {
        (row.region.code, row.channel, row.price)
        for row in selectors.bundle_prices_in_force(when=timezone.now())
    } == {
        ("US", APP, Money("0.99", "USD")),
        ("US", WEB, Money("0.99", "USD")),
        ("JP", APP, Money("158", "JPY")),
        ("JP", WEB, Money("142", "JPY")),
    }
    assert "Apply these prices now" not in done.content.decode()

    again = editor_client.post(response["Location"], {"_apply": "1"}, follow=True)
    assert "no longer waiting for review" in str(list(again.context["messages"])[0])
    assert BundlePrice.objects.count() == 6


def test_nothing_to_reprice_says_so(editor_client, us):
    bundle = bundle_create()
    price_create(bundle, us, "0.99", source=DERIVED)
    price_create(bundle, us, "0.99", channel=WEB, source=DERIVED)

    response = editor_client.post(BUNDLES, repricing_action(bundle), follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "No derived price of these bundles would move."
    ]
    assert not RepricingProposal.objects.exists()


def test_discard_from_the_proposal_page_changes_no_price(editor_client, bundle, jp):
    rate_set("JPY", "160")
    editor_client.post(BUNDLES, repricing_action(bundle))
    proposal = RepricingProposal.objects.get()
    before = list(BundlePrice.objects.values_list("id", "price"))

    editor_client.post(proposal_page(proposal), {"_discard": "1"})

    proposal.refresh_from_db()
    assert proposal.status == RepricingProposal.Status.DISCARDED
    assert list(BundlePrice.objects.values_list("id", "price")) == before


def test_finance_may_read_a_proposal_but_not_apply_it(client, finance_user, bundle, jp):
    rate_set("JPY", "160")
    proposal = services.repricing_proposal_create(bundles=None, actor=None)
    client.force_login(finance_user)
    url = proposal_page(proposal)

    page = client.get(url)
    assert page.status_code == 200
    assert "Apply these prices now" not in page.content.decode()
    assert client.post(url, {"_apply": "1"}).status_code == 403
    client.post(BUNDLES, repricing_action(bundle))  # not offered: nothing happens
    proposal.refresh_from_db()
    assert proposal.status == RepricingProposal.Status.PENDING
    assert RepricingProposal.objects.count() == 1
    assert BundlePrice.objects.count() == 3


def test_proposal_pages_in_constant_queries(editor_client, jp):
    bundle_create()
    small = services.repricing_proposal_create(bundles=None, actor=None)
    queries = (
        queries_for(editor_client, PROPOSALS),
        queries_for(editor_client, proposal_page(small)),
    )
    services.repricing_proposal_discard(proposal=small, actor=None)
    for _ in range(10):
        bundle_create()
    rate_set("JPY", "151")
    big = services.repricing_proposal_create(bundles=None, actor=None)
    assert big.lines.count() > small.lines.count()

    assert (
        queries_for(editor_client, PROPOSALS),
        queries_for(editor_client, proposal_page(big)),
    ) == queries


def test_price_history_lists_every_row_in_constant_queries(editor_client, bundle, jp):
    queries = queries_for(editor_client, PRICES)
    for days in range(2, 32):
        price_create(
            bundle, jp, str(100 + days), channel=WEB, effective_at=NOW - days * DAY
        )

    assert queries_for(editor_client, PRICES) == queries
    response = editor_client.get(PRICES)
    assert response.context["cl"].result_count == 33
    assert "in force" in response.content.decode()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("in_force", {("US", APP, "0.99"), ("JP", APP, "149"), ("JP", WEB, "134")}),
        ("scheduled", {("JP", APP, "160")}),
        ("replaced", {("JP", WEB, "120")}),
    ],
)
def test_price_history_filters_by_status(editor_client, bundle, jp, status, expected):
    price_create(bundle, jp, "120", channel=WEB, effective_at=NOW - 3 * DAY)
    price_create(bundle, jp, "160", effective_at=timezone.now() + HOUR)

    response = editor_client.get(PRICES, {"status": status})

    assert {
        (row.region.code, row.channel, f"{row.price.amount.normalize():f}")
        for row in response.context["cl"].result_list
    } == expected


def test_no_one_can_change_or_delete_a_price_row(admin_client, bundle):
    row = BundlePrice.objects.first()
    url = f"{PRICES}{row.id}/change/"

    page = admin_client.get(url)
    assert page.status_code == 200
    assert "_save" not in page.content.decode()
    assert admin_client.post(url, {"channel": WEB}).status_code == 403
    assert (
        admin_client.post(f"{PRICES}{row.id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert admin_client.get(f"{PRICES}add/").status_code == 403
    row.refresh_from_db()
    assert row.channel == APP


def import_preview(client, content, name="prices.csv", file_format="0"):
    upload = SimpleUploadedFile(
        name, content if isinstance(content, bytes) else content.encode()
    )
    return client.post(
        f"{PRICES}import/",
        {"import_file": upload, "format": file_format, "resource": "0"},
    )


def test_import_previews_new_prices_and_adds_rows_only_on_confirm(
    editor_client, catalog_editor, bundle, jp
):
    moment = timezone.localtime() + 2 * HOUR
    csv = CSV_HEADER + (
        "coins_100,US,app,0.99,USD,,\n"  # unchanged: skipped
        "coins_100,jp,app,160,JPY,,\n"
        f"coins_100,JP,web,150,JPY,{moment:%Y-%m-%d %H:%M:%S},\n"
    )
    stored = set(BundlePrice.objects.values_list("id", "price", "effective_at"))

    preview = import_preview(editor_client, csv)

    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["skip", "new", "new"]
    assert set(BundlePrice.objects.values_list("id", "price", "effective_at")) == stored

    done = editor_client.post(
        f"{PRICES}process_import/", preview.context["confirm_form"].initial, follow=True
    )

    assert done.status_code == 200
    assert set(BundlePrice.objects.values_list("id", "price", "effective_at")) > stored
    added = BundlePrice.objects.exclude(id__in=[row[0] for row in stored])
    assert {(row.channel, row.price, row.source, row.created_by) for row in added} == {
        (APP, Money("160", "JPY"), MANUAL, catalog_editor),
        (WEB, Money("150", "JPY"), MANUAL, catalog_editor),
    }
    assert added.get(channel=WEB).effective_at == moment.replace(microsecond=0)


def test_import_with_bad_rows_shows_their_errors_and_writes_nothing(
    editor_client, bundle, jp
):
    past = timezone.localtime() - HOUR
    csv = CSV_HEADER + (
        "coins_100,JP,app,160,JPY,,\n"
        "coins_999,JP,app,160,JPY,,\n"
        "coins_100,XX,app,160,JPY,,\n"
        "coins_100,JP,tv,160,JPY,,\n"
        "coins_100,JP,app,1.99,USD,,\n"
        "coins_100,JP,app,160.5,JPY,,\n"
        "coins_100,JP,app,lots,JPY,,\n"
        f"coins_100,JP,web,150,JPY,{past:%Y-%m-%d %H:%M:%S},\n"
    )
    count = BundlePrice.objects.count()

    preview = import_preview(editor_client, csv)

    result = preview.context["result"]
    assert result.has_validation_errors()
    errors = {
        row.number: {
            field: [str(e) for e in errs]
            for field, errs in row.field_specific_errors.items()
        }
        for row in result.invalid_rows
    }
    assert errors[2] == {"bundle": ["Unknown sku: coins_999."]}
    assert errors[3] == {"region": ["Unknown region code: XX."]}
    assert list(errors[4]) == ["channel"]
    assert errors[5] == {"currency": ["Prices in JP are in JPY."]}
    assert errors[6] == {"price": ["JPY prices have 0 decimal places at most."]}
    assert errors[7] == {"price": ["Enter a number, e.g. 4.99."]}
    assert list(errors[8]) == ["effective_at"]
    assert 1 not in errors
    assert "confirm_form" not in preview.context
    assert BundlePrice.objects.count() == count


def export(client, file_format):
    every_column = {
        f"bundlepriceresource_{name}": "on" for name in BundlePriceResource.Meta.fields
    }
    return client.post(
        f"{PRICES}export/", {"format": file_format, "resource": "0", **every_column}
    )


def test_export_is_the_price_table_and_imports_back_unchanged(
    editor_client, bundle, jp
):
    price_create(bundle, jp, "120", channel=WEB, effective_at=NOW - 3 * DAY)
    # Staff enter moments to the second, as the export writes them.
    moment = (timezone.now() + HOUR).replace(microsecond=0)
    price_create(bundle, jp, "160", effective_at=moment)

    exported = export(editor_client, "0")

    lines = exported.content.decode().splitlines()
    assert lines[0] == CSV_HEADER.strip()
    assert sorted(lines[1:]) == sorted(
        [
            "coins_100,US,app,0.99,USD,,derived",
            "coins_100,JP,app,149,JPY,,derived",
            f"coins_100,JP,app,160,JPY,{timezone.localtime(moment):%Y-%m-%d %X},manual",
            "coins_100,JP,web,134,JPY,,derived",
        ]
    )
    preview = import_preview(editor_client, exported.content)
    assert [row.import_type for row in preview.context["result"].rows] == ["skip"] * 4


def test_xlsx_export_imports_back_unchanged(editor_client, bundle):
    exported = export(editor_client, "1")

    assert exported["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    preview = import_preview(editor_client, exported.content, "prices.xlsx", "1")
    assert [row.import_type for row in preview.context["result"].rows] == ["skip"] * 3


def test_staff_keep_exchange_rates_in_the_admin(editor_client, jp):
    page = editor_client.get("/admin/exchange/rate/add/")
    assert page.context["adminform"].form.initial["backend"] == "staff"

    refused = editor_client.post(
        "/admin/exchange/rate/add/",
        {"backend": "staff", "currency": "EUR", "value": "0"},
    )
    assert refused.context["adminform"].form.errors == {
        "value": ["A rate must be more than zero."]
    }
    assert not Rate.objects.filter(currency="EUR").exists()

    added = editor_client.post(
        "/admin/exchange/rate/add/",
        {"backend": "staff", "currency": "EUR", "value": "0.92"},
    )
    assert added.status_code == 302
    assert Rate.objects.get(currency="EUR").value == Decimal("0.92")
