import pytest

from accounts.roles import FINANCE, SUPPORT
from core import display
from wallets.models import Purchase, Transfer
from wallets.tests.factories import staff_create

from .factories import on_sale, user_create
from .test_refunds import purchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought():
    buyer = user_create(username="alice", email="alice@example.com")
    bundle, region = on_sale(coins=100, bonus_coins=5)
    return purchase(buyer, bundle, region)


def test_support_finds_a_wallet_and_sees_balances_and_history_read_only(client, bought):
    client.force_login(staff_create(SUPPORT))

    listing = client.get("/admin/wallets/wallet/", {"q": "alice"})
    assert [w.username for w in listing.context["cl"].result_list] == ["alice"]
    assert listing.context["cl"].result_list[0].paid_balance == 100

    page = client.get(f"/admin/wallets/wallet/{bought.user_id}/change/")
    content = page.content.decode()
    assert page.status_code == 200
    assert "105 coins (100 paid, 5 bonus)" in content
    assert "purchase:" in content
    assert (
        client.post(f"/admin/wallets/wallet/{bought.user_id}/change/", {}).status_code
        == 403
    )


@pytest.mark.parametrize("path", ["add/", "{id}/change/", "{id}/delete/"])
def test_nobody_adds_changes_or_deletes_a_transfer_in_the_admin(
    admin_client, bought, path
):
    transfer = Transfer.objects.first()
    url = "/admin/wallets/transfer/" + path.format(id=transfer.id)

    assert admin_client.post(url, {"amount": 1}).status_code == 403
    assert Transfer.objects.get(id=transfer.id).amount == transfer.amount


def test_transfer_changelist_does_not_count_every_row(
    admin_client, bought, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/wallets/transfer/")
    assert response.status_code == 200
    assert response.context["cl"].show_full_result_count is False


def test_finance_refunds_with_a_reason_after_a_confirmation_page(client, bought):
    finance = staff_create(FINANCE)
    client.force_login(finance)
    url = "/admin/wallets/purchase/"
    selection = {"action": "refund", "_selected_action": [bought.id]}

    confirm = client.post(url, selection)
    assert confirm.status_code == 200
    assert b"Refund 1 purchase(s)" in confirm.content
    bought.refresh_from_db()
    assert bought.status == "completed"

    done = client.post(
        url, {**selection, "apply": "1", "reason": "Bought by mistake"}, follow=True
    )

    assert "Refunded 1 purchase(s)." in [str(m) for m in done.context["messages"]]
    bought.refresh_from_db()
    assert (bought.status, bought.refunded_by, bought.refund_reason) == (
        "refunded",
        finance,
        "Bought by mistake",
    )


def test_refund_without_a_reason_shows_the_form_again(client, bought):
    client.force_login(staff_create(FINANCE))
    response = client.post(
        "/admin/wallets/purchase/",
        {
            "action": "refund",
            "_selected_action": [bought.id],
            "apply": "1",
            "reason": "",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert Purchase.objects.get().status == "completed"


def test_support_cannot_refund(client, bought):
    client.force_login(staff_create(SUPPORT))
    response = client.post(
        "/admin/wallets/purchase/",
        {
            "action": "refund",
            "_selected_action": [bought.id],
            "apply": "1",
            "reason": "x",
        },
    )
    assert response.status_code in (200, 302)
    assert Purchase.objects.get().status == "completed"


def test_a_refused_refund_is_reported_beside_the_others(client, bought):
    from .test_refunds import spend

    spend(bought.user, 50)
    client.force_login(staff_create(FINANCE))
    done = client.post(
        "/admin/wallets/purchase/",
        {
            "action": "refund",
            "_selected_action": [bought.id],
            "apply": "1",
            "reason": "x",
        },
        follow=True,
    )
    messages = [str(m) for m in done.context["messages"]]
    assert any("partly used" in m for m in messages)
    assert Purchase.objects.get().status == "completed"


def test_purchase_changelist_in_constant_queries(
    admin_client, bought, django_assert_max_num_queries
):
    bundle, region = bought.bundle, bought.region
    for _ in range(10):
        purchase(user_create(), bundle, region)
    with django_assert_max_num_queries(10):
        response = admin_client.get("/admin/wallets/purchase/")
    assert len(response.context["cl"].result_list) == 11


def test_finance_reads_the_paid_coin_liability_per_currency(client, bought):
    client.force_login(staff_create(FINANCE))

    changelist = client.get("/admin/wallets/purchase/")
    page = client.get("/admin/wallets/purchase/liability/")

    assert b"/admin/wallets/purchase/liability/" in changelist.content
    assert page.status_code == 200
    assert page.context["liability"] == [bought.price]
    assert "<td>USD</td>" in page.content.decode()
    assert f">{display.money(bought.price)}</td>" in page.content.decode()


def test_catalog_editors_cannot_read_the_liability(client, catalog_editor, bought):
    client.force_login(catalog_editor)
    assert client.get("/admin/wallets/purchase/liability/").status_code == 403
