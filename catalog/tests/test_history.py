"""History pages read as the screens do, and every entry says where it came from:
a hand edit ("Admin"), an import ("Import of <file>"), a scheduled change, the seed."""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog import services
from catalog.models import CoinBundle, Gift, Region
from catalog.seed import SEED_REASON, seed_catalog

from .factories import gift_create
from .test_admin import change_form_data, changelist_post_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client(client, catalog_editor):
    client.force_login(catalog_editor)
    return client


def latest(gift: Gift):
    return gift.history.latest("history_date")


def test_a_hand_edit_is_recorded_as_admin(editor_client, catalog_editor):
    rose = gift_create(slug="rose", coin_price=5)

    editor_client.post(
        f"/admin/catalog/gift/{rose.id}/change/", change_form_data(rose, coin_price=6)
    )

    entry = latest(rose)
    assert (entry.coin_price, entry.history_user) == (6, catalog_editor)
    assert entry.history_change_reason == "Admin"


def test_a_price_edited_in_the_list_is_recorded_as_admin(editor_client):
    rose = gift_create(slug="rose", coin_price=5)
    page = editor_client.get("/admin/catalog/gift/")

    editor_client.post("/admin/catalog/gift/", changelist_post_data(page, rose=7))

    assert (latest(rose).coin_price, latest(rose).history_change_reason) == (
        7,
        "Admin",
    )


def test_a_quick_import_is_recorded_with_its_file(editor_client, catalog_editor):
    rose = gift_create(slug="rose", name="Rose", coin_price=5)
    upload = SimpleUploadedFile(
        "spring prices.csv", b"slug,name,coin_price\nrose,Rose,6\n"
    )
    preview = editor_client.post(
        "/admin/catalog/gift/import/",
        {"import_file": upload, "format": "0", "resource": "0"},
    )

    editor_client.post(
        "/admin/catalog/gift/process_import/", preview.context["confirm_form"].initial
    )

    entry = latest(rose)
    assert (entry.coin_price, entry.history_user) == (6, catalog_editor)
    assert entry.history_change_reason == "Import of spring prices.csv"


def test_a_large_import_is_recorded_with_its_file(
    editor_client, catalog_editor, django_capture_on_commit_callbacks, eager_celery
):
    rose = gift_create(slug="rose", name="Rose", coin_price=5)

    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(
            "/admin/catalog/importjob/upload/",
            {
                "kind": "gifts",
                "file": SimpleUploadedFile(
                    "gifts.csv", b"slug,name,coin_price\nrose,Rose,6\n"
                ),
            },
        )

    entry = latest(rose)
    assert (entry.coin_price, entry.history_user) == (6, catalog_editor)
    assert entry.history_change_reason == "Import of gifts.csv"


def test_a_scheduled_change_is_recorded_with_its_number(catalog_editor):
    rose = gift_create(slug="rose", coin_price=5)
    moment = timezone.now() + datetime.timedelta(minutes=5)
    change = services.gift_price_change_schedule(
        gift=rose, coin_price=8, effective_at=moment, actor=catalog_editor
    )

    services.gift_price_changes_apply_due(now=moment)

    assert latest(rose).history_change_reason == f"Scheduled price change #{change.id}"


def test_the_seed_is_recorded_as_the_seed():
    seed_catalog()

    for model in (Gift, Region, CoinBundle):
        reasons = set(model.history.values_list("history_change_reason", flat=True))
        assert reasons == {SEED_REASON}, model


def test_the_history_page_shows_labels_readable_values_and_reasons(editor_client):
    rose = gift_create(slug="rose", coin_price=5)
    editor_client.post(
        f"/admin/catalog/gift/{rose.id}/change/",
        change_form_data(
            rose,
            coin_price=1500,
            available_from_0="2030-01-01",
            available_from_1="10:00",
        ),
    )

    html = editor_client.get(f"/admin/catalog/gift/{rose.id}/history/").content.decode()

    table = re.search(r'<table id="change-history".*?</table>', html, re.S)[0]
    headers = re.findall(r"<th[^>]*>(.*?)</th>", table)
    assert headers[:5] == [
        "Object",
        "Coin price",
        "Is active",
        "Available from",
        "Available until",
    ]
    assert "coin_price" not in table and "None" not in table
    assert "Admin" in table
    assert "1,500" in table
    assert "Coin price:</strong> 5&nbsp;&rarr;&nbsp;1,500" in table
    assert "Available from:</strong> —&nbsp;&rarr;&nbsp;2030-01-01 10:00" in table


def test_a_deletion_in_the_admin_is_recorded_as_admin(editor_client, catalog_editor):
    region = Region.objects.create(code="FR", name="France", currency="EUR")

    editor_client.post(f"/admin/catalog/region/{region.id}/delete/", {"post": "yes"})

    entry = Region.history.filter(id=region.id).latest("history_date")
    assert (entry.history_type, entry.history_user) == ("-", catalog_editor)
    assert entry.history_change_reason == "Admin"
