"""Gifts in the viewer's language: the API by `Accept-Language` (tags, caches and
304s per language), the admin's fields and missing-language column, and imports
and exports carrying every language."""

import csv
import io

import pytest
import yaml
from django.core.management import call_command

from catalog import imports, languages
from catalog.api.conditional import answers
from catalog.imports import rules
from catalog.models import Gift

from .factories import gift_create, region_create
from .test_imports import quick_confirm, quick_import, run, write_csv

pytestmark = pytest.mark.django_db

GIFTS = "/api/v1/gifts/"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-AT,en;q=0.5", "de"),
        ("fr;q=0.2, ja;q=0.9", "ja"),
        ("xx-YY, ko;q=0.1", "ko"),
        ("pt-PT", "pt-br"),
        ("zh-Hans-CN", "zh-hans"),
        ("zh-CN", "zh-hans"),
        ("zh-TW, es;q=0.5", "es"),  # Traditional is not Simplified
        ("en;q=0, de;q=0", "en"),  # refused languages are never chosen
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("klingon", "en"),
        (";;;garbage===", "en"),
        ("de," * 400, "de"),  # long headers are cut, not parsed whole
    ],
)
def test_accept_language_picks_a_supported_language(header, language):
    assert languages.from_accept_language(header) == language


@pytest.fixture
def rose():
    return gift_create(
        slug="rose",
        name="Rose",
        description="A red rose.",
        name_de="Rose (de)",
        description_de="",  # no German text: the English one is served
        name_ja="バラ",
        description_ja="赤いバラ",
    )


def item(response):
    (only,) = response.json()
    return only["name"], only["description"]


def test_the_list_speaks_the_clients_language_field_by_field(api_client, rose):
    german = api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="de-AT, en;q=0.5")
    japanese = api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="ja-JP")
    english = api_client.get(GIFTS)
    korean = api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="ko")  # nothing in Korean

    assert item(german) == ("Rose (de)", "A red rose.")
    assert item(japanese) == ("バラ", "赤いバラ")
    assert item(english) == ("Rose", "A red rose.")
    assert item(korean) == ("Rose", "A red rose.")
    assert [r["Content-Language"] for r in (german, japanese, english, korean)] == [
        "de",
        "ja",
        "en",
        "ko",
    ]
    for response in (german, english):
        assert "Accept-Language" in response["Vary"]


def test_one_gift_speaks_the_clients_language_too(api_client, rose):
    response = api_client.get(f"{GIFTS}rose/", HTTP_ACCEPT_LANGUAGE="ja")

    assert (response.json()["name"], response["Content-Language"]) == ("バラ", "ja")
    assert "Accept-Language" in response["Vary"]


def test_a_german_client_never_gets_the_english_answer_from_memory(api_client, rose):
    english = api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="en")

    german = api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="de")

    assert item(german)[0] == "Rose (de)"
    assert german["ETag"] != english["ETag"]


def test_an_english_etag_is_not_a_304_for_a_german_client(api_client, rose):
    english = api_client.get(GIFTS)

    german = api_client.get(
        GIFTS, HTTP_ACCEPT_LANGUAGE="de", HTTP_IF_NONE_MATCH=english["ETag"]
    )
    german_again = api_client.get(
        GIFTS, HTTP_ACCEPT_LANGUAGE="de-DE", HTTP_IF_NONE_MATCH=german["ETag"]
    )

    assert german.status_code == 200
    assert item(german)[0] == "Rose (de)"
    assert german_again.status_code == 304
    assert german_again["Content-Language"] == "de"


def test_languages_with_the_same_text_still_have_their_own_tags(api_client):
    gift_create(slug="plain", name="Plain")  # English only: every answer reads alike

    tags = {
        api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE=code)["ETag"]
        for code in languages.codes()
    }

    assert len(tags) == len(languages.codes())


def test_odd_headers_cannot_grow_the_kept_answers(api_client, rose):
    for n in range(200):
        odd = f"x-{n}" if n % 2 else f"x-{n}, de-{n};q=0.{n % 9 + 1}"
        api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE=odd)

    keys = [key for key in answers._entries if key[0] == "GiftViewSet"]
    assert {key[-1] for key in keys} == {"de", "en"}
    assert len(keys) <= len(languages.codes())


def test_a_translated_list_costs_no_more_queries(api_client, django_assert_num_queries):
    us = region_create("US")
    for n in range(5):
        gift_create(regions=[us], name_de=f"Geschenk {n}", name_fr=f"Cadeau {n}")
    # The region, the gifts, their regions, and when the answer next changes: as
    # in English (catalog/tests/test_api.py); every language is on the gift's row.
    for header in ("en", "de", "fr-CA", "ja"):
        answers.clear()
        with django_assert_num_queries(4):
            response = api_client.get(
                GIFTS, {"region": "US"}, HTTP_ACCEPT_LANGUAGE=header
            )
        assert len(response.json()) == 5


def test_validation_errors_stay_in_english(api_client):
    response = api_client.get(
        GIFTS, {"placement": "nowhere"}, HTTP_ACCEPT_LANGUAGE="de"
    )

    assert response.status_code == 400
    assert "not a valid choice" in str(response.json())


def test_the_schema_documents_the_language_headers(tmp_path):
    schema_file = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(schema_file))
    schema = yaml.safe_load(schema_file.read_text())

    for path in ("/api/v1/gifts/", "/api/v1/gifts/{slug}/"):
        operation = schema["paths"][path]["get"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "Accept-Language" in headers
        assert "Content-Language" in operation["responses"]["200"]["headers"]


def test_existing_text_is_english_and_history_keeps_it(catalog_editor):
    gift = gift_create(slug="koi", name="Koi", description="A fish.")

    gift.refresh_from_db()

    assert (gift.name_en, gift.description_en) == ("Koi", "A fish.")
    assert gift.history.first().name == "Koi"


# Admin


def test_the_change_form_has_every_language(client, catalog_editor, rose):
    client.force_login(catalog_editor)

    html = client.get(f"/admin/catalog/gift/{rose.pk}/change/").content.decode()

    for code in languages.codes():
        for field in languages.TRANSLATED:
            assert f'name="{languages.column(field, code)}"' in html
    assert 'name="name"' not in html  # one English field, not two
    assert "Other languages" in html


def test_staff_save_a_translation_and_the_api_serves_it(
    client, catalog_editor, api_client, rose
):
    from .test_admin import change_form_data

    client.force_login(catalog_editor)
    data = change_form_data(rose, name_en="Rose", description_en="A red rose.")
    data.update(name_fr="Rose (fr)", description_fr="Une rose rouge.")

    response = client.post(f"/admin/catalog/gift/{rose.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    rose.refresh_from_db()
    assert (rose.name_fr, rose.name_en, rose.name_de) == ("Rose (fr)", "Rose", None)
    french = api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="fr")
    assert item(french) == ("Rose (fr)", "Une rose rouge.")


def test_an_english_name_is_required(client, catalog_editor, rose):
    from .test_admin import change_form_data

    client.force_login(catalog_editor)
    data = change_form_data(rose, name_en="", name_de="Nur Deutsch")

    response = client.post(f"/admin/catalog/gift/{rose.pk}/change/", data)

    assert response.status_code == 200
    assert "name_en" in response.context["adminform"].form.errors
    rose.refresh_from_db()
    assert (rose.name_en, rose.name_de) == ("Rose", "Rose (de)")


def test_the_list_shows_and_filters_the_missing_languages(client, catalog_editor, rose):
    done = gift_create(
        slug="done",
        name="Done",
        **{
            languages.column("name", code): f"Done {code}"
            for code in languages.others()
        },
    )
    client.force_login(catalog_editor)

    page = client.get("/admin/catalog/gift/")
    missing_german = client.get("/admin/catalog/gift/", {"missing_language": "de"})
    missing_korean = client.get("/admin/catalog/gift/", {"missing_language": "ko"})

    assert languages.missing(done) == []
    # Rose has German and Japanese names, but German lacks the description.
    assert languages.missing(rose) == [c for c in languages.others() if c != "ja"]
    assert "Missing in" in page.content.decode()
    assert list(missing_german.context["cl"].result_list) == [rose]
    assert list(missing_korean.context["cl"].result_list) == [rose]


# Imports and exports


def export_gifts(client) -> str:
    response = client.post(
        "/admin/catalog/gift/export/",
        {
            "format": "0",
            "resource": "0",
            **{f"giftresource_{name}": "on" for name in rules.GIFT_COLUMNS},
        },
    )
    return response.content.decode()


def test_the_export_has_a_column_per_language_and_imports_back_unchanged(
    client, catalog_editor, rose, tmp_path
):
    client.force_login(catalog_editor)

    exported = export_gifts(client)

    (row,) = csv.DictReader(io.StringIO(exported))
    assert list(row) == list(rules.GIFT_COLUMNS)
    assert (row["name"], row["name_de"], row["name_ja"], row["name_ko"]) == (
        "Rose",
        "Rose (de)",
        "バラ",
        "",
    )
    assert {"name_pt-br", "name_zh-hans", "name_id", "description_id"} <= set(row)
    preview = quick_import(client, exported.encode())
    assert [r.import_type for r in preview.context["result"].rows] == ["skip"]
    path = tmp_path / "gifts.csv"
    path.write_text(exported, encoding="utf-8")
    large = run(imports.gifts_import, path)
    assert (large.ok, large.skipped, large.updated) == (True, 1, 0)


def test_both_imports_write_every_language(client, catalog_editor, tmp_path):
    header = ["slug", "name", "coin_price", "description", "name_de", "name_pt-br"]
    client.force_login(catalog_editor)
    quick = write_csv(
        tmp_path / "quick.csv",
        header,
        [["koi", "Koi", "30", "A fish.", "Koi (de)", "Carpa"]],
    )
    large = write_csv(
        tmp_path / "large.csv",
        [*header, "description_ja"],
        [["lion", "Lion", "2000", "A dance.", "Löwe", "Leão", "獅子舞"]],
    )

    quick_confirm(client, quick_import(client, quick))
    result = run(imports.gifts_import, large, actor=catalog_editor)

    assert result.ok
    koi, lion = Gift.objects.get(slug="koi"), Gift.objects.get(slug="lion")
    assert (koi.name_en, koi.name_de, koi.name_pt_br, koi.name_fr) == (
        "Koi",
        "Koi (de)",
        "Carpa",
        None,
    )
    assert (lion.name_en, lion.description_en, lion.name_de, lion.description_ja) == (
        "Lion",
        "A dance.",
        "Löwe",
        "獅子舞",
    )


def test_an_update_of_the_english_name_reaches_the_english_column(
    tmp_path, catalog_editor, rose
):
    path = write_csv(
        tmp_path / "gifts.csv",
        ["slug", "name", "coin_price", "name_ja"],
        [["rose", "Red rose", "1", ""]],
    )

    result = run(imports.gifts_import, path, actor=catalog_editor)

    assert (result.ok, result.updated) == (True, 1)
    rose.refresh_from_db()
    assert (rose.name, rose.name_en, rose.name_de, rose.name_ja) == (
        "Red rose",
        "Red rose",
        "Rose (de)",
        None,  # an empty cell empties the translation
    )


@pytest.mark.parametrize("column", ["name_xx", "description_klingon", "name_en"])
def test_an_unknown_language_column_is_an_error_naming_it(
    client, catalog_editor, tmp_path, rose, column
):
    path = write_csv(
        tmp_path / "gifts.csv",
        ["slug", "name", "coin_price", column],
        [["rose", "Changed", "1", "Text"], ["new", "New", "5", "Text"]],
    )
    client.force_login(catalog_editor)

    large = run(imports.gifts_import, path)
    page = quick_import(client, path)

    assert not large.ok
    ((line, bad_column, message),) = {
        (bad.line, bad.column, bad.message) for bad in large.bad_rows
    }
    assert (line, bad_column) == (1, column)
    assert f"Unknown language in column {column}" in message
    assert f"Unknown language in column {column}" in page.content.decode()
    assert "confirm_form" not in page.context
    assert not Gift.objects.filter(slug="new").exists()
    rose.refresh_from_db()
    assert rose.name == "Rose"


def test_a_too_long_translation_is_its_columns_error(tmp_path, rose):
    path = write_csv(
        tmp_path / "gifts.csv",
        ["slug", "name", "coin_price", "name_zh-hans"],
        [["rose", "Rose", "1", "长" * 81]],
    )

    result = run(imports.gifts_import, path)

    assert not result.ok
    assert [(bad.line, bad.column) for bad in result.bad_rows] == [(2, "name_zh-hans")]
    rose.refresh_from_db()
    assert rose.name_zh_hans is None


def test_the_seed_names_some_gifts_in_other_languages(api_client):
    from catalog.seed import seed_catalog

    seed_catalog()

    names = {
        gift["slug"]: gift["name"]
        for gift in api_client.get(GIFTS, HTTP_ACCEPT_LANGUAGE="de-DE").json()
    }
    assert (names["lion-dance"], names["live"]) == ("Löwentanz", "Live")
