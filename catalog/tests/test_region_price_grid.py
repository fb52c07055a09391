"""The price grid of one region and store: every bundle's price there in one form,
saved all or nothing by who may set prices, read by everyone else."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from audit.models import AuditRecord
from catalog.models import BundlePrice, Region

from .factories import bundle_create, price_create, region_create

pytestmark = pytest.mark.django_db

APP, WEB = BundlePrice.Channel.APP, BundlePrice.Channel.WEB
MANUAL = BundlePrice.Source.MANUAL
HOUR = datetime.timedelta(hours=1)
GRID = "/admin/catalog/bundleprice/grid/"
JP_APP = f"{GRID}?region=JP&channel=app"


@pytest.fixture
def jp():
    return region_create("JP", currency="JPY", price_rule=Region.PriceRule.WHOLE)


@pytest.fixture
def us():
    return region_create("US")


@pytest.fixture
def bundles(jp, us):
    small = bundle_create(sku="coins_100", coins=100)
    large = bundle_create(sku="coins_1000", coins=1_000, bonus_coins=50)
    price_create(small, jp, "160")
    price_create(large, jp, "1600")
    price_create(small, us, "0.99")
    return small, large


@pytest.fixture
def editor_client(client, catalog_editor):
    client.force_login(catalog_editor)
    return client


def ids() -> list[int]:
    return list(BundlePrice.objects.order_by("id").values_list("id", flat=True))


def grid_post(client, url=JP_APP, moment=None, **prices):
    """The grid as the browser posts it: `price_<bundle id>` for each filled row."""
    data = {
        "prices_effective_at_0": f"{moment:%Y-%m-%d}" if moment else "",
        "prices_effective_at_1": f"{moment:%H:%M:%S}" if moment else "",
        **prices,
    }
    return client.post(url, data)


def test_an_editor_sees_every_bundle_with_an_input_in_constant_queries(
    editor_client, bundles, jp
):
    small, large = bundles
    editor_client.get(JP_APP)
    with CaptureQueriesContext(connection) as first:
        page = editor_client.get(JP_APP)
    for n in range(10):
        price_create(bundle_create(), jp, str(200 + n))
    price_create(small, jp, "170", effective_at=timezone.now() + HOUR)
    with CaptureQueriesContext(connection) as more:
        later = editor_client.get(JP_APP)

    assert page.status_code == later.status_code == 200
    assert len(more) == len(first)
    html = later.content.decode()
    assert f'name="price_{small.id}"' in html
    assert f'name="price_{large.id}"' in html
    assert '<span class="grid-price">¥160</span>' in html
    assert "¥170 from " in html  # the scheduled one
    assert "Read in UTC" in html  # the moment's time zone, beside its field


def test_the_grid_sets_every_filled_row_as_a_hand_set_price_and_audits_it(
    editor_client, catalog_editor, bundles, jp
):
    small, large = bundles
    before = set(ids())

    response = grid_post(
        editor_client, **{f"price_{small.id}": "180", f"price_{large.id}": "1800"}
    )

    assert response.status_code == 302
    assert response["Location"] == JP_APP
    new = BundlePrice.objects.exclude(id__in=before)
    assert {(row.bundle_id, row.region, row.channel, row.price) for row in new} == {
        (small.id, jp, APP, Money("180", "JPY")),
        (large.id, jp, APP, Money("1800", "JPY")),
    }
    assert {(row.source, row.created_by) for row in new} == {(MANUAL, catalog_editor)}
    trail = AuditRecord.objects.filter(
        model="catalog.BundlePrice",
        operation="insert",
        object_id__in=[str(row.id) for row in new],
    )
    assert {record.actor for record in trail} == {catalog_editor}
    assert {record.actor_label for record in trail} == {f"POST {GRID}"}
    assert trail.count() == 2
    page = editor_client.get(JP_APP).content.decode()
    assert "2 new price(s) set by hand in JP (Region JP) · In-app store." in page


def test_a_row_at_its_current_price_or_empty_adds_nothing(editor_client, bundles):
    small, large = bundles
    before = ids()

    response = grid_post(editor_client, **{f"price_{small.id}": "160"})

    assert response.status_code == 302
    assert ids() == before
    assert "No price changed." in editor_client.get(JP_APP).content.decode()


def test_new_prices_can_start_at_a_chosen_moment(editor_client, bundles, us):
    small, _ = bundles
    moment = (timezone.now() + 2 * HOUR).replace(microsecond=0)

    grid_post(
        editor_client,
        f"{GRID}?region=US&channel=web",
        moment,
        **{f"price_{small.id}": "0.89"},
    )

    row = BundlePrice.objects.get(region=us, channel=WEB)
    assert (row.bundle, row.price, row.effective_at) == (
        small,
        Money("0.89", "USD"),
        moment,
    )


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("-160", "A price must be more than zero."),
        ("0", "A price must be more than zero."),
        ("160.5", "JPY prices have 0 decimal places at most."),
        ("1e20", "Ensure that there are no more than 14 digits in total."),
        ("99999999999999999", "Ensure that there are no more than 14 digits in total."),
        ("NaN", "Enter a number."),
        ("¥160", "Enter a number."),
    ],
)
def test_a_bad_row_shows_its_error_beside_it_and_saves_no_row(
    editor_client, bundles, value, error
):
    small, large = bundles
    before = ids()

    response = grid_post(
        editor_client, **{f"price_{small.id}": "180", f"price_{large.id}": value}
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors == {f"price_{large.id}": [error]}
    html = response.content.decode()
    assert "Nothing was saved." in html
    row = html.split(f'id="bundle-{large.id}"', 1)[1].split("</tr>", 1)[0]
    assert error in row.replace("&#x27;", "'")
    assert ids() == before


def test_a_moment_in_the_past_is_refused_beside_it(editor_client, bundles):
    small, _ = bundles
    before = ids()

    response = grid_post(
        editor_client, moment=timezone.localtime() - HOUR, **{f"price_{small.id}": "1"}
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["prices_effective_at"]
    assert "cannot start in the past" in errors["prices_effective_at"][0]
    assert ids() == before


def test_a_forged_post_writes_only_the_page_s_region_store_and_currency(
    editor_client, bundles, jp
):
    """What a dishonest insider adds to the form is ignored: a bundle that does not
    exist, another region or store or currency in the body; the page's address
    says where, the region says the currency."""
    small, _ = bundles
    before = set(ids())

    response = grid_post(
        editor_client,
        **{
            f"price_{small.id}": "170",
            "price_999999": "1",
            "region": "US",
            "channel": "web",
            "currency": "USD",
            f"currency_{small.id}": "USD",
        },
    )

    assert response.status_code == 302
    (row,) = BundlePrice.objects.exclude(id__in=before)
    assert (row.bundle, row.region, row.channel, row.price) == (
        small,
        jp,
        APP,
        Money("170", "JPY"),
    )


@pytest.mark.parametrize(
    "url",
    [f"{GRID}?region=XX&channel=app", f"{GRID}?region=JP&channel=shop"],
)
def test_a_post_to_no_such_region_or_store_is_refused(editor_client, bundles, url):
    small, _ = bundles
    before = ids()

    response = grid_post(editor_client, url, **{f"price_{small.id}": "170"})

    assert response.status_code == 400
    assert ids() == before


@pytest.mark.parametrize("role", ["finance_user", "support_user"])
def test_who_may_only_view_prices_reads_values_and_cannot_post(
    client, request, bundles, role
):
    small, _ = bundles
    client.force_login(request.getfixturevalue(role))
    before = ids()

    page = client.get(JP_APP)
    html = page.content.decode()
    assert page.status_code == 200
    assert '<span class="grid-price">¥160</span>' in html
    assert 'name="price_' not in html
    assert "prices_effective_at" not in html
    assert "Save new prices" not in html

    response = grid_post(client, **{f"price_{small.id}": "1"})
    assert response.status_code == 403
    assert ids() == before


def test_the_price_list_links_to_the_grid(editor_client, bundles):
    page = editor_client.get("/admin/catalog/bundleprice/").content.decode()

    assert f'href="{GRID}"' in page


def test_a_bundle_without_a_price_there_yet_can_get_one(editor_client, bundles, us):
    _, large = bundles
    page = editor_client.get(f"{GRID}?region=US&channel=app").content.decode()
    assert "no price yet" in page.split(f'id="bundle-{large.id}"', 1)[1]

    grid_post(
        editor_client, f"{GRID}?region=US&channel=app", **{f"price_{large.id}": "9.99"}
    )

    assert BundlePrice.objects.get(bundle=large, region=us).price == Money(
        "9.99", "USD"
    )
