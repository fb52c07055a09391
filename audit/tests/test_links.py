"""Many-to-many links (a gift's regions) are recorded as they are added and removed."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from accounts.roles import FINANCE
from audit import registry
from audit.context import acting_as
from catalog import imports
from catalog.tests.factories import gift_create, region_create
from catalog.tests.test_admin import change_form_data
from wallets.models import Promotion
from wallets.tests.factories import staff_create

from .helpers import actor_in_connection, records

pytestmark = pytest.mark.django_db
LINKS = "catalog.Gift.regions"
AUDIT = "/admin/audit/auditrecord/"


def links() -> list[tuple[str, str, int]]:
    """(operation, gift id, region id) of each recorded link change, in order."""
    return [
        (r.operation, r.object_id, (r.after or r.before)["region_id"])
        for r in records(LINKS)
    ]


@pytest.fixture
def regions():
    return [region_create(code) for code in ("US", "JP", "DE")]


def test_an_admin_change_of_regions_records_each_link_with_the_editor(
    client, catalog_editor, regions
):
    us, jp, de = regions
    gift = gift_create(regions=[us, jp])
    client.force_login(catalog_editor)
    url = f"/admin/catalog/gift/{gift.pk}/change/"

    response = client.post(url, change_form_data(gift, regions=[jp.pk, de.pk]))

    assert response.status_code == 302
    assert set(gift.regions.all()) == {jp, de}
    changes = records(LINKS, actor=catalog_editor)
    assert {(r.operation, r.object_id) for r in changes} == {
        ("delete", str(gift.pk)),
        ("insert", str(gift.pk)),
    }
    removed, added = sorted(changes, key=lambda r: r.operation)
    assert set(removed.before) == {"id", "gift_id", "region_id"}
    assert (removed.before["gift_id"], removed.before["region_id"]) == (gift.pk, us.pk)
    assert removed.after is None
    assert (added.before, added.after["region_id"]) == (None, de.pk)
    assert {r.actor_label for r in changes} == {f"POST {url}"}
    assert actor_in_connection() == (None, None)


def test_set_and_clear_record_each_link_added_and_removed(regions):
    us, jp, de = regions
    gift = gift_create(regions=[us])

    with acting_as(label="test:set"):
        gift.regions.set([jp, de])
    gift.regions.clear()

    # Django adds and removes a set()'s links in set order: compare each step as a set.
    found = links()
    assert found[:2] == [
        ("insert", str(gift.pk), us.pk),  # The factory's.
        ("delete", str(gift.pk), us.pk),
    ]
    assert set(found[2:4]) == {
        ("insert", str(gift.pk), jp.pk),
        ("insert", str(gift.pk), de.pk),
    }
    assert set(found[4:]) == {
        ("delete", str(gift.pk), jp.pk),
        ("delete", str(gift.pk), de.pk),
    }
    assert len(found) == 6
    labels = [r.actor_label for r in records(LINKS)]
    assert labels == ["", "test:set", "test:set", "test:set", "", ""]


def test_a_raw_delete_of_a_link_is_recorded_without_an_actor(regions):
    us, jp, _ = regions
    gift = gift_create(regions=[us, jp])

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM catalog_gift_regions WHERE gift_id = %s AND region_id = %s",
            [gift.pk, jp.pk],
        )

    (removed,) = records(LINKS, operation="delete")
    assert (removed.object_id, removed.before["region_id"]) == (str(gift.pk), jp.pk)
    assert (removed.actor, removed.actor_label) == (None, "")


def test_a_promotions_regions_are_recorded_under_the_promotion(regions):
    promotion = Promotion.objects.create(
        name="Spring", kind="campaign", bonus_percent=Decimal("10")
    )

    promotion.regions.add(regions[1])

    (added,) = records("wallets.Promotion.regions")
    assert (added.object_id, added.after["region_id"]) == (
        str(promotion.pk),
        regions[1].pk,
    )


def test_a_gifts_audit_trail_shows_its_regions_readably(client, regions):
    us, jp, _ = regions
    gift = gift_create(regions=[us])
    other = gift_create(regions=[jp])
    gift.regions.remove(us)
    client.force_login(staff_create(FINANCE))

    trail = client.get(AUDIT, {"model": "catalog.Gift", "q": gift.pk})
    only_links = client.get(AUDIT, {"model": LINKS})

    assert trail.status_code == 200
    listed = trail.context["cl"].result_list
    assert {(r.model, r.operation) for r in listed} == {
        ("catalog.Gift", "insert"),
        (LINKS, "insert"),
        (LINKS, "delete"),
    }
    assert f"Removed region #{us.pk}" in trail.content.decode()
    assert {r.object_id for r in only_links.context["cl"].result_list} == {
        str(gift.pk),
        str(other.pk),
    }
    removed = records(LINKS, operation="delete")[0]
    page = client.get(f"{AUDIT}{removed.pk}/change/").content.decode()
    assert f'href="/admin/catalog/gift/{gift.pk}/change/"' in page
    assert f"<th>region (region_id)</th><td>{us.pk}: {us}</td><td></td>" in page


def test_a_link_entry_must_name_a_many_to_many_field(monkeypatch):
    monkeypatch.setattr(registry, "AUDITED", (registry.Audited("catalog.Gift.name"),))

    with pytest.raises(ImproperlyConfigured, match="not a many-to-many field"):
        registry.audited_tables()


def test_a_gift_import_records_only_the_links_that_moved(regions):
    us, jp, de = regions
    gift = gift_create(slug="rose", name="Rose", coin_price=1, regions=[us, jp])
    kept = gift.regions.through.objects.get(gift=gift, region=us).pk
    before = len(records(LINKS))
    body = b"slug,name,coin_price,regions\nrose,Rose,1,US|DE\n"

    result = imports.gifts_import(file=io.BytesIO(body), actor=None)

    assert result.updated == 1
    assert set(gift.regions.all()) == {us, de}
    assert gift.regions.through.objects.get(gift=gift, region=us).pk == kept
    assert links()[before:] == [
        ("delete", str(gift.pk), jp.pk),
        ("insert", str(gift.pk), de.pk),
    ]
