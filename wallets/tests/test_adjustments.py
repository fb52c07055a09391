import pytest

from accounts.errors import ServiceError
from accounts.roles import FINANCE, SUPPORT
from wallets import services
from wallets.ledger import InsufficientBalance
from wallets.models import BalanceAdjustment
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import staff_create

from .factories import user_create

pytestmark = pytest.mark.django_db


def adjust(actor, user, amount, kind="bonus_coins", reason="Goodwill", key="k1"):
    return services.balance_adjust(
        user=user,
        account_kind=kind,
        amount=amount,
        reason=reason,
        actor=actor,
        idempotency_key=key,
    )


def test_finance_adjusts_with_a_reason_and_it_is_on_record():
    finance, user = staff_create(FINANCE), user_create()

    added = adjust(finance, user, 50, key="a")
    taken = adjust(finance, user, -20, key="b")

    assert wallet_balances(user=user).bonus_coins == 30
    assert (taken.balance_before, taken.balance_after, taken.actor) == (50, 30, finance)
    assert added.transfer.kind == "adjustment"
    assert adjust(finance, user, 50, key="a") == added  # a double submit moves nothing
    assert wallet_balances(user=user).bonus_coins == 30
    assert ledger_reconcile().is_clean


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"reason": " "}, "needs a reason"),
        ({"amount": 0}, "non-zero"),
        ({"kind": "paid_coins"}, "Only bonus coins and diamonds"),
    ],
)
def test_bad_adjustments_are_refused_and_record_nothing(kwargs, error):
    finance, user = staff_create(FINANCE), user_create()
    kwargs = {"amount": 10, **kwargs}
    with pytest.raises(ServiceError, match=error):
        adjust(finance, user, **kwargs)
    assert not BalanceAdjustment.objects.exists()


def test_taking_away_more_than_the_balance_is_refused():
    finance, user = staff_create(FINANCE), user_create()
    with pytest.raises(InsufficientBalance):
        adjust(finance, user, -1)
    assert not BalanceAdjustment.objects.exists()


def test_only_finance_adjusts():
    with pytest.raises(ServiceError, match="Only finance"):
        adjust(staff_create(SUPPORT), user_create(), 10)


def test_adjustments_cannot_be_edited():
    adjustment = adjust(staff_create(FINANCE), user_create(), 10)
    adjustment.amount = 99
    with pytest.raises(TypeError, match="append-only"):
        adjustment.save()


def test_the_admin_form_shows_a_refusal_beside_the_amount_and_records_nothing(client):
    finance, user = staff_create(FINANCE), user_create()
    client.force_login(finance)
    url = "/admin/wallets/balanceadjustment/adjust/"
    form = {
        "user": user.id,
        "account_kind": "bonus_coins",
        "amount": "-5",
        "reason": "typo",
        "idempotency_key": "x",
    }

    refused = client.post(url, form)
    done = client.post(url, {**form, "amount": "5"})

    assert refused.status_code == 200
    assert "Not enough bonus coins" in str(refused.context["form"].errors["amount"])
    assert done.status_code == 302
    assert BalanceAdjustment.objects.get().amount == 5
    client.force_login(staff_create(SUPPORT))
    assert client.get(url).status_code == 403
    assert client.get("/admin/wallets/balanceadjustment/").status_code == 200
