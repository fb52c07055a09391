"""Finance sets level shares: a higher level paying less than a lower one is saved
only once confirmed, on the level's page, and its history shows the share's move."""

from decimal import Decimal

import pytest

from gifting.models import CreatorLevel

pytestmark = pytest.mark.django_db

LEVELS = "/admin/gifting/creatorlevel/"
OUT_OF_ORDER = "Level 4 · Gold would pay 45%, less than level 3 · Silver's 60%."


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def gold():
    return CreatorLevel.objects.get(number=4)


def level_page(level):
    return f"{LEVELS}{level.id}/change/"


def level_data(level, **overrides):
    return {
        "number": str(level.number),
        "name": level.name,
        "min_diamonds_30d": str(level.min_diamonds_30d),
        "share_percent": str(level.share_percent),
        **overrides,
    }


def list_data(client, shares_by_number: dict[int, str]) -> dict[str, str]:
    """The level list's form as the browser posts it, with new shares."""
    formset = client.get(LEVELS).context["cl"].formset
    data = {
        f"{formset.prefix}-TOTAL_FORMS": str(formset.total_form_count()),
        f"{formset.prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
        "_save": "Save",
    }
    for form in formset.forms:
        level = form.instance
        data[f"{form.prefix}-id"] = str(level.id)
        data[f"{form.prefix}-min_diamonds_30d"] = str(level.min_diamonds_30d)
        data[f"{form.prefix}-share_percent"] = shares_by_number.get(
            level.number, str(level.share_percent)
        )
    return data


def shares() -> list[Decimal]:
    return list(CreatorLevel.objects.values_list("share_percent", flat=True))


def test_a_higher_level_paying_less_asks_for_confirmation_naming_both(
    finance_client,
):
    before = shares()

    response = finance_client.post(
        level_page(gold()), level_data(gold(), share_percent="45")
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["confirm_share_order"][0] == OUT_OF_ORDER
    assert OUT_OF_ORDER.replace("'", "&#x27;") in response.content.decode()
    assert shares() == before


def test_confirmed_it_is_saved_and_the_history_shows_before_and_after(
    finance_client, finance_user
):
    response = finance_client.post(
        level_page(gold()),
        level_data(gold(), share_percent="45", confirm_share_order="on"),
    )

    assert response.status_code == 302
    assert gold().share_percent == Decimal("45.00")
    record = gold().history.latest()
    assert record.history_user == finance_user
    assert record.history_change_reason == f"Share 65% → 45%, confirmed: {OUT_OF_ORDER}"
    history = finance_client.get(f"{LEVELS}{gold().id}/history/").content.decode()
    assert "Share 65% → 45%" in history
    finance_client.post(level_page(gold()), level_data(gold(), share_percent="66"))
    history = finance_client.get(f"{LEVELS}{gold().id}/history/").content.decode()
    assert "<td>45% → 66%</td>" in history  # the Share column, from the record before


def test_a_share_that_keeps_the_order_needs_no_confirmation(finance_client):
    response = finance_client.post(
        level_page(gold()), level_data(gold(), share_percent="62.5")
    )

    assert response.status_code == 302
    assert gold().share_percent == Decimal("62.50")


def test_a_share_edited_in_the_list_keeps_its_move_in_history(finance_client):
    data = list_data(finance_client, {4: "66"})

    assert finance_client.post(LEVELS, data).status_code == 302
    assert gold().history.latest().history_change_reason == "Share 65% → 66%"


def test_the_page_says_a_share_applies_to_gifts_from_now_on(finance_client):
    page = finance_client.get(level_page(gold())).content.decode()

    assert "Applies to gifts sent from the moment it is saved" in page
    assert 'name="confirm_share_order"' in page


def test_the_list_refuses_shares_out_of_order_and_saves_none(finance_client):
    data = list_data(finance_client, {1: "51", 4: "45"})
    before = shares()

    response = finance_client.post(LEVELS, data)

    assert response.status_code == 200
    html = response.content.decode()
    assert OUT_OF_ORDER.replace("'", "&#x27;") in html
    assert "which asks you to confirm" in html
    assert shares() == before


def test_support_reads_a_level_without_the_confirmation_box(client, support_user):
    client.force_login(support_user)

    page = client.get(level_page(gold())).content.decode()

    assert "confirm_share_order" not in page
    assert "Save although" not in page
