import pytest

from gifting.models import CreatorLevel, CreatorProfile, LevelChange
from gifting.tests.factories import creator_create

pytestmark = pytest.mark.django_db


def test_finance_edits_shares_in_the_level_list_with_history(client, finance_user):
    client.force_login(finance_user)
    page = client.get("/admin/gifting/creatorlevel/")
    formset = page.context["cl"].formset
    data = {
        "form-TOTAL_FORMS": str(formset.total_form_count()),
        "form-INITIAL_FORMS": str(formset.initial_form_count()),
        "_save": "Save",
    }
    for form in formset.forms:
        level = form.instance
        data[f"{form.prefix}-id"] = str(level.id)
        data[f"{form.prefix}-min_diamonds_30d"] = str(level.min_diamonds_30d)
        data[f"{form.prefix}-share_percent"] = (
            "52.50" if level.number == 1 else str(level.share_percent)
        )

    response = client.post("/admin/gifting/creatorlevel/", data)

    assert response.status_code == 302
    level = CreatorLevel.objects.get(number=1)
    assert str(level.share_percent) == "52.50"
    assert level.history.latest("history_date").history_user == finance_user


def test_catalog_editors_cannot_touch_levels(client, catalog_editor):
    client.force_login(catalog_editor)
    assert client.get("/admin/gifting/creatorlevel/").status_code == 403


def test_creator_filters_and_search(client, finance_user):
    creator_create(display_name="Mia")
    creator_create(display_name="Noor", suspended=True)
    client.force_login(finance_user)

    def names(query):
        response = client.get("/admin/gifting/creatorprofile/", query)
        return {c.display_name for c in response.context["cl"].result_list}

    assert names({"eligible": "yes"}) == {"Mia"}
    assert names({"eligible": "no"}) == {"Noor"}
    assert names({"q": "Mia"}) == {"Mia"}
    assert names({"level__id__exact": CreatorLevel.objects.get(number=1).id}) == {
        "Mia",
        "Noor",
    }


def test_finance_pins_a_creator_with_a_reason(client, finance_user):
    creator = creator_create()
    client.force_login(finance_user)
    gold = CreatorLevel.objects.get(number=4)

    client.post(
        "/admin/gifting/creatorprofile/",
        {
            "action": "pin_level",
            "_selected_action": [creator.id],
            "apply": "1",
            "level": gold.id,
            "reason": "Contract",
        },
    )

    creator.refresh_from_db()
    assert (creator.level, creator.level_pinned) == (gold, True)
    assert LevelChange.objects.get().reason == "Pinned by finance: Contract"


def test_suspend_action(client, finance_user):
    creator = creator_create()
    client.force_login(finance_user)
    client.post(
        "/admin/gifting/creatorprofile/",
        {"action": "suspend", "_selected_action": [creator.id]},
    )
    assert CreatorProfile.objects.get().suspended


def test_creator_page_shows_balance_and_recent_gifts(client, finance_user):
    creator = creator_create()
    client.force_login(finance_user)
    page = client.get(f"/admin/gifting/creatorprofile/{creator.id}/change/")
    assert page.status_code == 200
    assert b"diamonds held" in page.content


def test_gift_sends_are_read_only(admin_client):
    assert admin_client.get("/admin/gifting/giftsend/add/").status_code == 403
    assert admin_client.get("/admin/gifting/giftsend/").status_code == 200


def test_gift_sends_filter_by_stream_creator_sender_gift_and_date(admin_client):
    from gifting.services import gift_send
    from gifting.tests.factories import funded_sender, rose

    mia, noor = creator_create(display_name="Mia"), creator_create(display_name="Noor")
    gift, sender = rose(), funded_sender(100)
    for n, (creator, stream) in enumerate([(mia, "s1"), (noor, "s2"), (mia, "s2")]):
        gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=1,
            placement="live",
            stream_id=stream,
            region=None,
            idempotency_key=f"k{n}",
        )

    def count(query):
        response = admin_client.get("/admin/gifting/giftsend/", query)
        assert response.status_code == 200, query
        return len(response.context["cl"].result_list)

    assert count({"stream_id": "s2"}) == 2
    assert count({"creator__id__exact": mia.id}) == 2
    assert count({"sender__id__exact": sender.id}) == 3
    assert count({"gift__id__exact": gift.id}) == 3
    assert count({"created_at__gte": "2000-01-01 00:00:00+00:00"}) == 3
    assert count({"q": "Noor"}) == 1
