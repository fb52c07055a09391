"""A promotion some purchase earned stays: it explains those purchases' bonus coins."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from accounts.roles import CATALOG_EDITORS
from wallets.models import Promotion, Purchase

from .factories import on_sale, staff_create, user_create
from .test_purchases import buy

pytestmark = pytest.mark.django_db


def applied_promotion():
    promotion = Promotion.objects.create(
        name="Big", kind="campaign", bonus_percent=Decimal("20")
    )
    bundle, region = on_sale(coins=100)
    purchase = buy(user_create(), bundle, region).purchase
    assert list(purchase.promotions.all()) == [promotion]
    return promotion, purchase


def test_an_applied_promotion_cannot_be_deleted_and_keeps_its_purchases():
    promotion, purchase = applied_promotion()

    with pytest.raises(ProtectedError), transaction.atomic():
        promotion.delete()
    # Raw SQL too: the link's foreign key (deferred to the commit, checked here).
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM wallets_promotion WHERE id = %s", [promotion.id]
            )
        connection.check_constraints(table_names=["wallets_purchase_promotions"])

    assert list(Purchase.objects.get(id=purchase.id).promotions.all()) == [promotion]


def test_the_admin_refuses_deleting_an_applied_promotion_and_offers_deactivating(
    client,
):
    promotion, purchase = applied_promotion()
    unused = Promotion.objects.create(
        name="Unused", kind="campaign", bonus_percent=Decimal("5")
    )
    client.force_login(staff_create(CATALOG_EDITORS))

    page = client.get(f"/admin/wallets/promotion/{promotion.id}/delete/")
    posted = client.post(
        f"/admin/wallets/promotion/{promotion.id}/delete/", {"post": "yes"}
    )
    bulk = client.post(
        "/admin/wallets/promotion/",
        {
            "action": "delete_selected",
            "_selected_action": [promotion.id, unused.id],
            "post": "yes",
        },
    )

    assert page.status_code == 403
    assert posted.status_code == 403
    assert bulk.status_code in (200, 302)
    assert Promotion.objects.filter(id=promotion.id).exists()
    assert list(Purchase.objects.get(id=purchase.id).promotions.all()) == [promotion]
    change = client.get(f"/admin/wallets/promotion/{promotion.id}/change/")
    assert "deactivate it instead" in change.content.decode()
    # One never applied still goes.
    assert (
        client.post(
            f"/admin/wallets/promotion/{unused.id}/delete/", {"post": "yes"}
        ).status_code
        == 302
    )
    assert not Promotion.objects.filter(id=unused.id).exists()
