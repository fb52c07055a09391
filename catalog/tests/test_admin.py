import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Gift, GiftPriceChange
from catalog.resources import GiftResource

from .factories import gift_create, region_create

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/catalog/gift/"
CSV_HEADER = (
    "slug,name,coin_price,category,placement,description,sort_order,is_active,"
    "available_from,available_until,regions,sponsor_name,sponsor_starts_at,"
    "sponsor_ends_at\n"
)


@pytest.fixture
def editor_client(client, catalog_editor):
    client.force_login(catalog_editor)
    return client


def changelist_post_data(response, **prices_by_slug):
    """The list-editing form as the browser would submit it, with new prices."""
    formset = response.context["cl"].formset
    data = {
        f"{formset.prefix}-TOTAL_FORMS": str(formset.total_form_count()),
        f"{formset.prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
        "_save": "Save",
    }
    for form in formset.forms:
        data[f"{form.prefix}-id"] = str(form.instance.id)
        data[f"{form.prefix}-coin_price"] = str(
            prices_by_slug.get(form.instance.slug, form.instance.coin_price)
        )
    return data


def change_form_data(gift, **overrides):
    data = {
        "name_en": gift.name,
        "slug": gift.slug,
        "coin_price": str(gift.coin_price),
        "category": gift.category,
        "sort_order": str(gift.sort_order),
        "is_active": "on",
        "description_en": "",
        "placement": gift.placement,
        "sponsor_name": "",
    }
    for prefix in ("price_changes", "price_changes-2"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    data.update(overrides)
    return data


def test_changelist_shows_price_and_live_now_in_constant_queries(
    editor_client, django_assert_max_num_queries
):
    for _ in range(3):
        gift_create()
    editor_client.get(CHANGELIST)
    for _ in range(30):
        gift_create()

    # A fixed budget (session, user, permissions, counts, page): not one per gift.
    with django_assert_max_num_queries(12):
        response = editor_client.get(CHANGELIST)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 33
    assert b"Live now" in response.content


def test_prices_are_editable_in_the_list_and_the_change_is_in_history(
    editor_client, catalog_editor
):
    gift_create(slug="rose", coin_price=1)
    gift_create(slug="live", coin_price=5)
    page = editor_client.get(CHANGELIST)

    response = editor_client.post(CHANGELIST, changelist_post_data(page, rose=3))

    assert response.status_code == 302
    rose = Gift.objects.get(slug="rose")
    assert rose.coin_price == 3
    assert Gift.objects.get(slug="live").coin_price == 5
    latest = rose.history.latest("history_date")
    assert (latest.coin_price, latest.history_user) == (3, catalog_editor)


@pytest.mark.parametrize("bad_price", ["0", "-4", "100001", "abc"])
def test_a_bad_price_in_the_list_shows_an_error_and_saves_nothing(
    editor_client, bad_price
):
    gift_create(slug="rose", coin_price=1)
    gift_create(slug="live", coin_price=5)
    page = editor_client.get(CHANGELIST)
    data = changelist_post_data(page, live=6)
    rose_form = next(
        k
        for k, v in data.items()
        if k.endswith("-id") and v == str(Gift.objects.get(slug="rose").id)
    )
    data[rose_form.replace("-id", "-coin_price")] = bad_price

    response = editor_client.post(CHANGELIST, data)

    assert response.status_code == 200
    assert response.context["cl"].formset.errors
    assert b"Please correct the error" in response.content
    assert list(Gift.objects.order_by("slug").values_list("coin_price", flat=True)) == [
        5,
        1,
    ]


def test_change_form_puts_the_window_error_beside_the_field(editor_client):
    gift = gift_create(slug="rose", coin_price=1)
    url = f"/admin/catalog/gift/{gift.id}/change/"

    response = editor_client.post(
        url,
        change_form_data(
            gift,
            available_from_0="2030-01-02",
            available_from_1="10:00:00",
            available_until_0="2030-01-01",
            available_until_1="10:00:00",
            coin_price="7",
        ),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "available_until": ["The window must end after it starts."]
    }
    gift.refresh_from_db()
    assert gift.coin_price == 1
    assert gift.available_from is None


def test_change_form_saves_a_valid_gift(editor_client):
    gift = gift_create(slug="rose", coin_price=1)
    jp = region_create("JP", currency="JPY")

    response = editor_client.post(
        f"/admin/catalog/gift/{gift.id}/change/",
        change_form_data(gift, coin_price="2", regions=[str(jp.id)]),
    )

    assert response.status_code == 302
    gift.refresh_from_db()
    assert gift.coin_price == 2
    assert list(gift.regions.all()) == [jp]


def test_a_scheduled_price_in_the_past_is_an_error_beside_the_moment(editor_client):
    gift = gift_create(slug="rose", coin_price=1)
    past = timezone.localtime() - datetime.timedelta(hours=1)

    response = editor_client.post(
        f"/admin/catalog/gift/{gift.id}/change/",
        change_form_data(
            gift,
            **{
                "price_changes-TOTAL_FORMS": "1",
                "price_changes-0-coin_price": "5",
                "price_changes-0-effective_at_0": past.strftime("%Y-%m-%d"),
                "price_changes-0-effective_at_1": past.strftime("%H:%M:%S"),
            },
        ),
    )

    assert response.status_code == 200
    (formset, _) = [
        inline.formset for inline in response.context["inline_admin_formsets"]
    ]
    assert formset.errors[0] == {"effective_at": ["The moment must be in the future."]}
    assert not GiftPriceChange.objects.exists()


def test_a_price_change_scheduled_on_the_gift_page_records_who(
    editor_client, catalog_editor
):
    gift = gift_create(slug="rose", coin_price=1)
    future = timezone.localtime() + datetime.timedelta(days=1)

    response = editor_client.post(
        f"/admin/catalog/gift/{gift.id}/change/",
        change_form_data(
            gift,
            **{
                "price_changes-TOTAL_FORMS": "1",
                "price_changes-0-coin_price": "5",
                "price_changes-0-effective_at_0": future.strftime("%Y-%m-%d"),
                "price_changes-0-effective_at_1": future.strftime("%H:%M:%S"),
            },
        ),
    )

    assert response.status_code == 302
    change = GiftPriceChange.objects.get()
    assert (change.coin_price, change.created_by, change.applied_at) == (
        5,
        catalog_editor,
        None,
    )
    gift.refresh_from_db()
    assert gift.coin_price == 1


def test_bulk_deactivate_and_activate_keep_history(editor_client, catalog_editor):
    rose = gift_create(slug="rose")
    live = gift_create(slug="live")

    response = editor_client.post(
        CHANGELIST,
        {"action": "deactivate", "_selected_action": [rose.id, live.id]},
        follow=True,
    )

    assert "Deactivated 2 gift(s)." in [str(m) for m in response.context["messages"]]
    assert not Gift.objects.filter(is_active=True).exists()
    latest = rose.history.latest("history_date")
    assert (latest.is_active, latest.history_user) == (False, catalog_editor)

    editor_client.post(
        CHANGELIST, {"action": "activate", "_selected_action": [rose.id]}
    )
    assert list(Gift.objects.filter(is_active=True)) == [rose]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"live": "yes"}, {"rose"}),
        ({"live": "no"}, {"later", "sponsored-off"}),
        ({"sponsored": "yes"}, {"sponsored-off"}),
        ({"region": "JP"}, {"rose", "later"}),
        ({"region": "US"}, {"rose", "sponsored-off"}),
        ({"q": "ros"}, {"rose"}),
        ({"is_active__exact": "0"}, {"sponsored-off"}),
    ],
)
def test_changelist_filters(editor_client, query, expected):
    jp, us = region_create("JP", currency="JPY"), region_create("US")
    gift_create(slug="rose", name="Rose")
    gift_create(
        slug="later",
        available_from=timezone.now() + datetime.timedelta(days=1),
        regions=[jp],
    )
    gift_create(
        slug="sponsored-off", is_active=False, sponsor_name="Acme", regions=[us]
    )

    response = editor_client.get(CHANGELIST, query)

    assert {gift.slug for gift in response.context["cl"].result_list} == expected


def test_history_page_lists_changes_with_who_made_them(editor_client, catalog_editor):
    gift = gift_create(slug="rose", coin_price=1)
    page = editor_client.get(CHANGELIST)
    editor_client.post(CHANGELIST, changelist_post_data(page, rose=4))

    response = editor_client.get(f"/admin/catalog/gift/{gift.id}/history/")

    assert response.status_code == 200
    assert catalog_editor.username in response.content.decode()
    assert [record.coin_price for record in response.context["page_obj"]] == [4, 1]


def import_preview(client, content: str, name="gifts.csv"):
    upload = SimpleUploadedFile(name, content.encode(), content_type="text/csv")
    return client.post(
        "/admin/catalog/gift/import/",
        {"import_file": upload, "format": "0", "resource": "0"},
    )


def test_import_previews_every_change_and_writes_only_on_confirm(editor_client):
    gift_create(slug="rose", name="Rose", coin_price=1)
    region_create("JP", currency="JPY")
    csv = CSV_HEADER + (
        "rose,Rose,2,basic,both,,10,1,,,,,,\n"
        "koi,Koi,300,premium,live,A koi,70,1,,,JP,,,\n"
    )

    preview = import_preview(editor_client, csv)

    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["update", "new"]
    assert "confirm_form" in preview.context
    assert Gift.objects.get(slug="rose").coin_price == 1
    assert not Gift.objects.filter(slug="koi").exists()

    confirm = preview.context["confirm_form"]
    done = editor_client.post(
        "/admin/catalog/gift/process_import/", confirm.initial, follow=True
    )

    assert done.status_code == 200
    assert Gift.objects.get(slug="rose").coin_price == 2
    koi = Gift.objects.get(slug="koi")
    assert (koi.coin_price, koi.placement, [r.code for r in koi.regions.all()]) == (
        300,
        "live",
        ["JP"],
    )


def test_import_with_bad_rows_shows_their_errors_and_writes_nothing(editor_client):
    gift_create(slug="rose", name="Rose", coin_price=1)
    csv = CSV_HEADER + (
        "rose,Rose,2,basic,both,,10,1,,,,,,\n"
        "koi,Koi,0,premium,live,,70,1,,,,,,\n"
        "star,Star,5,basic,both,,80,1,2030-01-02 00:00:00,2030-01-01 00:00:00,,,,\n"
        "moon,Moon,5,basic,both,,90,1,,,XX,,,\n"
    )

    preview = import_preview(editor_client, csv)

    result = preview.context["result"]
    assert result.has_validation_errors()
    errors = {row.number: row.field_specific_errors for row in result.invalid_rows}
    assert set(errors[2]) == {"coin_price"}
    assert set(errors[3]) == {"available_until"}
    assert "Unknown region code(s): XX." in str(errors[4]["regions"])
    assert "confirm_form" not in preview.context
    assert Gift.objects.get(slug="rose").coin_price == 1
    assert Gift.objects.count() == 1


def test_export_round_trips_through_import_unchanged(editor_client):
    gift_create(
        slug="rose",
        name="Rose",
        coin_price=1,
        available_until=datetime.datetime(2031, 5, 1, 12, 30, tzinfo=datetime.UTC),
        regions=[region_create("JP", currency="JPY"), region_create("US")],
    )

    every_column = {f"giftresource_{name}": "on" for name in GiftResource.Meta.fields}
    exported = editor_client.post(
        "/admin/catalog/gift/export/", {"format": "0", "resource": "0", **every_column}
    )
    assert exported.status_code == 200
    content = exported.content.decode()
    assert content.startswith("slug,name,coin_price")
    assert "JP|US" in content

    preview = import_preview(editor_client, content)
    assert [row.import_type for row in preview.context["result"].rows] == ["skip"]


def test_support_can_view_but_not_change_a_gift(client, support_user):
    gift = gift_create(slug="rose", coin_price=1)
    client.force_login(support_user)

    assert client.get(f"/admin/catalog/gift/{gift.id}/change/").status_code == 200
    response = client.post(
        f"/admin/catalog/gift/{gift.id}/change/", change_form_data(gift, coin_price="9")
    )

    assert response.status_code == 403
    assert Gift.objects.get(slug="rose").coin_price == 1


def test_xlsx_export_imports_back_unchanged(editor_client):
    gift_create(slug="rose", name="Rose", coin_price=1)
    every_column = {f"giftresource_{name}": "on" for name in GiftResource.Meta.fields}

    exported = editor_client.post(
        "/admin/catalog/gift/export/", {"format": "1", "resource": "0", **every_column}
    )

    assert exported["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    upload = SimpleUploadedFile("gifts.xlsx", exported.content)
    preview = editor_client.post(
        "/admin/catalog/gift/import/",
        {"import_file": upload, "format": "1", "resource": "0"},
    )
    assert [row.import_type for row in preview.context["result"].rows] == ["skip"]


def test_a_price_change_scheduled_on_its_own_page_records_who(
    editor_client, catalog_editor
):
    gift = gift_create(slug="rose", coin_price=1)
    future = timezone.localtime() + datetime.timedelta(days=1)

    response = editor_client.post(
        "/admin/catalog/giftpricechange/add/",
        {
            "gift": str(gift.id),
            "coin_price": "5",
            "effective_at_0": future.strftime("%Y-%m-%d"),
            "effective_at_1": future.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 302
    change = GiftPriceChange.objects.get()
    assert (change.coin_price, change.created_by) == (5, catalog_editor)


def test_a_pending_price_change_edited_on_the_gift_page_moves(
    editor_client, catalog_editor
):
    gift = gift_create(slug="rose", coin_price=1)
    future = timezone.localtime() + datetime.timedelta(days=1)
    pending = GiftPriceChange.objects.create(
        gift=gift, coin_price=5, effective_at=future, created_by=catalog_editor
    )

    response = editor_client.post(
        f"/admin/catalog/gift/{gift.id}/change/",
        change_form_data(
            gift,
            **{
                "price_changes-TOTAL_FORMS": "1",
                "price_changes-INITIAL_FORMS": "1",
                "price_changes-0-id": str(pending.id),
                "price_changes-0-gift": str(gift.id),
                "price_changes-0-coin_price": "7",
                "price_changes-0-effective_at_0": future.strftime("%Y-%m-%d"),
                "price_changes-0-effective_at_1": future.strftime("%H:%M:%S"),
            },
        ),
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.coin_price, pending.applied_at) == (7, None)


def test_the_list_shows_pending_scheduled_prices_in_constant_queries(
    editor_client, catalog_editor, django_assert_num_queries
):
    def schedule(gift, price, days):
        GiftPriceChange.objects.create(
            gift=gift,
            coin_price=price,
            effective_at=timezone.now() + datetime.timedelta(days=days),
            created_by=catalog_editor,
        )

    rose = gift_create(slug="rose", name="Rose", coin_price=1)
    schedule(rose, 3, days=2)
    schedule(rose, 2, days=1)
    live = gift_create(slug="lion", name="Lion Dance", coin_price=2_000)
    GiftPriceChange.objects.create(
        gift=live,
        coin_price=1_500,
        effective_at=timezone.now(),
        applied_at=timezone.now(),
    )
    editor_client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        editor_client.get(CHANGELIST)
    for n in range(20):
        schedule(gift_create(), 100 + n, days=3)

    with django_assert_num_queries(len(few)):
        response = editor_client.get(CHANGELIST)

    html = response.content.decode()
    moment = timezone.localtime(
        rose.price_changes.order_by("effective_at")[0].effective_at
    )
    row = html.split(">Rose<", 1)[1].split("</tr>", 1)[0]
    shown = re.sub(r"<[^>]+>", "", row.split('title="', 1)[1].split('">', 1)[1])
    assert shown.startswith(f"from {moment:%Y-%m-%d %H:%M}: 2 coins, then 1 more")
    assert f'title="from {moment:%Y-%m-%d %H:%M}: 2 coins; from ' in row
    lion = html.split(">Lion Dance<", 1)[1].split("</tr>", 1)[0]
    assert "1,500" not in lion  # a change already live is no note


def test_the_gift_page_shows_its_schedule_beside_the_price_and_names_the_time_zone(
    editor_client, catalog_editor
):
    gift = gift_create(slug="rose", coin_price=1)
    change = GiftPriceChange.objects.create(
        gift=gift,
        coin_price=4,
        effective_at=timezone.now() + datetime.timedelta(days=1),
        created_by=catalog_editor,
    )

    html = editor_client.get(f"/admin/catalog/gift/{gift.id}/change/").content.decode()

    beside_price = html.split('name="coin_price"', 1)[1].split('name="category"', 1)[0]
    moment = f"{timezone.localtime(change.effective_at):%Y-%m-%d %H:%M}"
    assert f"from {moment} (UTC): 4 coins" in beside_price
    assert 'href="#price_changes-group"' in beside_price
    assert 'id="price_changes-group"' in html
    assert "Goes live at (UTC)" in html
    own_page = editor_client.get("/admin/catalog/giftpricechange/add/").content.decode()
    assert "Read in UTC, the admin's time zone." in own_page
