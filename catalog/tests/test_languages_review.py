"""The attacker review of gifts in many languages: no formula and no control
character reaches an export, none is accepted from the admin or either import,
an invisible translation falls back to English, and every column is read."""

import csv
import io

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog import imports, languages
from catalog.imports import rules
from catalog.models import Gift
from core.exports import importable_text, imported_text, spreadsheet_safe

from .factories import gift_create
from .test_imports import quick_confirm, quick_import, run, write_csv
from .test_languages import export_gifts

pytestmark = pytest.mark.django_db

FORMULAS = {
    "name": "=2+2",
    "description": "+cmd|' /C calc'!A0",
    "sponsor_name": "@SUM(A1)",
    "name_de": "-1+1",
    "description_ja": '＝HYPERLINK("http://x")',
    "name_fr": "'=already quoted",  # must come back with its own quote
}


@pytest.fixture
def formulas():
    return gift_create(
        slug="formulas",
        name_en=FORMULAS["name"],
        description_en=FORMULAS["description"],
        **{k: v for k, v in FORMULAS.items() if k not in {"name", "description"}},
    )


def export_xlsx(client) -> bytes:
    return client.post(
        "/admin/catalog/gift/export/",
        {
            "format": "1",
            "resource": "0",
            **{f"giftresource_{name}": "on" for name in rules.GIFT_COLUMNS},
        },
    ).content


def test_no_exported_text_is_a_formula_and_the_file_imports_back_unchanged(
    client, catalog_editor, formulas, tmp_path
):
    client.force_login(catalog_editor)

    exported = export_gifts(client)
    (row,) = csv.DictReader(io.StringIO(exported))
    workbook = openpyxl.load_workbook(io.BytesIO(export_xlsx(client)))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))

    for column, text in FORMULAS.items():
        assert row[column] == "'" + text
        assert cells[column].data_type == "s"  # text, never a formula cell
        assert cells[column].value == "'" + text
    preview = quick_import(client, exported.encode())
    assert [r.import_type for r in preview.context["result"].rows] == ["skip"]
    xlsx = quick_import(client, export_xlsx(client), name="gifts.xlsx", fmt="1")
    assert [r.import_type for r in xlsx.context["result"].rows] == ["skip"]
    path = write_csv(tmp_path / "g.csv", list(row), [list(row.values())])
    large = run(imports.gifts_import, path)
    assert (large.ok, large.skipped, large.updated) == (True, 1, 0)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("'=+-@ \tab＝"), max_size=8))
def test_an_exported_cell_is_safe_and_reads_back_as_it_was(text):
    cell = importable_text(text)

    assert spreadsheet_safe(cell) == cell  # nothing a spreadsheet would run
    assert imported_text(cell) == text


def test_a_legacy_control_character_does_not_break_the_xlsx_export(
    client, catalog_editor
):
    gift = gift_create(slug="old", name="Old")
    Gift.objects.filter(pk=gift.pk).update(description_en="bad \x1b escape")
    client.force_login(catalog_editor)

    sheet = openpyxl.load_workbook(io.BytesIO(export_xlsx(client))).active

    header = [cell.value for cell in sheet[1]]
    assert sheet[2][header.index("description")].value == "bad  escape"


# (A NUL is refused before, by the form: "Null characters are not allowed.")
REFUSED = ["Rose\u202e", "\u200bRose", "Ro\x1bse", "Rose\x7f", "Ro\u2066se"]


@pytest.mark.parametrize("text", REFUSED)
@pytest.mark.parametrize("field", ["name_en", "name_de", "description_ko"])
def test_the_admin_refuses_control_and_format_characters(
    client, catalog_editor, field, text
):
    from .test_admin import change_form_data

    rose = gift_create(slug="rose", name="Rose")
    client.force_login(catalog_editor)
    data = change_form_data(rose, name_en="Rose")
    data[field] = text

    response = client.post(f"/admin/catalog/gift/{rose.pk}/change/", data)

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors[field]
    assert message.startswith("Remove the control or invisible characters (U+")
    rose.refresh_from_db()
    assert getattr(rose, field) in ("Rose", None)


def test_joiners_and_line_breaks_where_they_belong_are_kept(client, catalog_editor):
    from .test_admin import change_form_data

    rose = gift_create(slug="rose", name="Rose")
    client.force_login(catalog_editor)
    data = change_form_data(rose, name_en="Rose")
    data.update(name_fr="می\u200cخواهم", description_fr="line one\r\nline two")

    response = client.post(f"/admin/catalog/gift/{rose.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    rose.refresh_from_db()
    assert rose.name_fr == "می\u200cخواهم"
    assert "\n" in rose.description_fr


def test_every_language_field_carries_the_validator():
    for code in languages.codes():
        name = Gift._meta.get_field(languages.column("name", code))
        description = Gift._meta.get_field(languages.column("description", code))
        assert languages.validate_name_text in name.validators
        assert languages.validate_description_text in description.validators


@pytest.mark.parametrize(
    "column", ["name", "name_de", "description", "description_pt-br"]
)
def test_both_imports_refuse_a_control_character_in_its_column(
    client, catalog_editor, tmp_path, column
):
    rose = gift_create(slug="rose", name="Rose")
    row = {"slug": "rose", "name": "Rose", "coin_price": "1", column: "Ro\u202ese"}
    path = write_csv(tmp_path / "gifts.csv", list(row), [list(row.values())])
    client.force_login(catalog_editor)

    large = run(imports.gifts_import, path)
    page = quick_import(client, path)

    assert not large.ok
    ((bad_column, message),) = {(bad.column, bad.message) for bad in large.bad_rows}
    assert bad_column == column
    assert message.startswith("Remove the control or invisible characters (U+202E)")
    assert message in page.content.decode()
    assert "confirm_form" not in page.context
    rose.refresh_from_db()
    assert rose.name == "Rose"


@pytest.mark.parametrize("blank", ["   ", "\u00a0\u3000", "\u200c", " \u200d "])
def test_an_invisible_translation_is_none_and_english_shows(
    client, catalog_editor, tmp_path, blank
):
    header = ["slug", "name", "coin_price", "name_de", "description_de"]
    client.force_login(catalog_editor)
    quick = write_csv(tmp_path / "q.csv", header, [["koi", "Koi", "3", blank, blank]])
    large = write_csv(tmp_path / "l.csv", header, [["eel", "Eel", "3", blank, blank]])

    quick_confirm(client, quick_import(client, quick))
    assert run(imports.gifts_import, large).ok

    for slug, english in (("koi", "Koi"), ("eel", "Eel")):
        gift = Gift.objects.get(slug=slug)
        assert (gift.name_de, gift.description_de) == (None, None)
        assert languages.text(gift, "name", "de") == english
        assert "de" in languages.missing(gift)


@pytest.mark.parametrize("header", ["Name_DE", "name_de ", " NAME_de"])
def test_the_quick_import_reads_a_language_column_in_any_case_or_spacing(
    client, catalog_editor, tmp_path, header
):
    path = write_csv(
        tmp_path / "gifts.csv",
        ["Slug", "NAME", " coin_price", header],
        [["koi", "Koi", "3", "Koi (de)"]],
    )
    client.force_login(catalog_editor)

    quick_confirm(client, quick_import(client, path))

    assert Gift.objects.get(slug="koi").name_de == "Koi (de)"


@pytest.mark.parametrize("header", ["colour", "name_dee", ""])
def test_the_quick_import_refuses_an_unknown_column(
    client, catalog_editor, tmp_path, header
):
    path = write_csv(
        tmp_path / "gifts.csv",
        ["slug", "name", "coin_price", header],
        [["koi", "Koi", "3", "x"]],
    )
    client.force_login(catalog_editor)

    page = quick_import(client, path)

    assert "confirm_form" not in page.context
    assert "Unknown" in page.content.decode()
    assert not Gift.objects.filter(slug="koi").exists()


def test_the_quick_import_refuses_a_column_twice(client, catalog_editor, tmp_path):
    path = write_csv(
        tmp_path / "gifts.csv",
        ["slug", "name", "coin_price", "name_de", "Name_DE"],
        [["koi", "Koi", "3", "a", "b"]],
    )
    client.force_login(catalog_editor)

    page = quick_import(client, path)

    assert "confirm_form" not in page.context
    assert "The column name_de appears twice." in page.content.decode()


@pytest.mark.parametrize("tag", ["zh-yue", "zh-Yue-HK", "yue"])
def test_cantonese_is_not_simplified_chinese(tag):
    assert languages.supported(tag) is None
    assert languages.from_accept_language(f"{tag}, es;q=0.5") == "es"
