"""The earnings hold: a gift's diamonds wait before they can be cashed out, and a
store refund takes back what is still waiting (docs/holds.md).

Level 1 pays 50 %: a coin earns the creator 5,000 units (0.5 diamond).
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.roles import FINANCE, SUPPORT
from catalog.tests.factories import gift_create
from core.errors import ServiceError
from gifting import services
from gifting.holds import hold_rules
from gifting.models import EarningsHold, GiftSend, HoldRecovery
from gifting.selectors import creator_hold
from gifting.tests.factories import creator_create, rich_creator
from payouts import services as payout_services
from payouts.models import Payout
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import AccountKind, Transfer, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import (
    on_sale,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
UNITS_PER_COIN = 5_000  # level 1's 50 %
DIAMOND = 10_000


@pytest.fixture(autouse=True)
def hold_on(settings):
    settings.EARNINGS_HOLD_DAYS = 7


def buyer_with(coins=100, *, at, txn, region=None, price="4.99"):
    """A buyer of `coins` paid coins (no bonus) at `at`, and their purchase."""
    user = user_create()
    bundle, region = on_sale(coins=coins, amount=price, region=region)
    bought = purchase_buy(user, bundle, region, key=f"buy-{txn}", when=at, txn=txn)
    return user, bought.purchase


def gift(sender, creator, coins, *, at, key):
    return services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift_create(coin_price=coins),
        quantity=1,
        placement="live",
        stream_id="s-1",
        region=None,
        idempotency_key=key,
        now=at,
    ).gift_send


def rule(days, *, at, region=None, by=None):
    """A rule as if finance had set it at `at` (the service refuses the past)."""
    return EarningsHold.objects.create(
        region=region,
        days=days,
        effective_from=at,
        set_at=at,
        set_by=by or staff_create(FINANCE),
        reason="test",
    )


def store_refund(txn, now=None):
    return wallet_services.store_refund_notification_handle(
        store="apple", transaction_id=txn, now=now
    )


def test_a_gift_stamps_its_senders_region_and_is_held_seven_days_by_default():
    now = timezone.now()
    sender, bought = buyer_with(at=now - 3 * DAY, txn="t-1")
    creator = creator_create()

    sent = gift(sender, creator, 40, at=now - 2 * DAY, key="g-1")

    assert GiftSend.objects.get(id=sent.id).sender_region_id == bought.region_id
    hold = creator_hold(creator=creator, now=now)
    assert hold.on_hold_units == 40 * UNITS_PER_COIN
    assert hold.frees == [((now - 2 * DAY + 7 * DAY).date(), 40 * UNITS_PER_COIN)]
    # Seven days after it was sent, to the second, it is free.
    later = sent.created_at + 7 * DAY
    assert creator_hold(creator=creator, now=later).on_hold_units == 0
    assert creator_hold(
        creator=creator, now=later - datetime.timedelta(seconds=1)
    ).on_hold_units == (40 * UNITS_PER_COIN)


def test_a_gift_is_held_by_the_rule_in_force_when_it_was_sent():
    t0 = timezone.now() - 30 * DAY
    us, gb = region_create("US"), region_create("GB", currency="GBP")
    rule(3, at=t0 + 10 * DAY)
    rule(0, at=t0 + 20 * DAY, region=gb)
    rules = hold_rules()

    def days(region, at):
        return rules.days_for(region_id=region.id if region else None, sent_at=at)

    # Before any rule: the default. Then the global rule, everywhere without one
    # of its own, and the region's own rule from its start.
    assert days(us, t0) == 7 and days(gb, t0) == 7
    assert days(us, t0 + 10 * DAY) == 3 and days(None, t0 + 15 * DAY) == 3
    assert days(gb, t0 + 19 * DAY) == 3
    assert days(gb, t0 + 20 * DAY) == 0 and days(us, t0 + 25 * DAY) == 3


def test_a_new_rule_never_releases_or_rehold_a_gift_already_sent():
    now = timezone.now()
    sender, _ = buyer_with(at=now - 3 * DAY, txn="t-1")
    creator = creator_create()
    gift(sender, creator, 10, at=now - 2 * DAY, key="g-1")
    finance = staff_create(FINANCE)

    services.earnings_hold_set(region=None, days=0, actor=finance, reason="Off")

    assert creator_hold(creator=creator).on_hold_units == 10 * UNITS_PER_COIN
    gift(sender, creator, 10, at=timezone.now(), key="g-2")
    assert creator_hold(creator=creator).on_hold_units == 10 * UNITS_PER_COIN


def test_a_change_of_home_region_later_moves_no_gift_out_of_the_hold():
    now = timezone.now()
    us, gb = region_create("US"), region_create("GB", currency="GBP")
    rule(0, at=now - 20 * DAY, region=gb)
    sender, _ = buyer_with(at=now - 3 * DAY, txn="t-1", region=us)
    creator = creator_create()
    gift(sender, creator, 10, at=now - DAY, key="g-1")

    wallet_services.home_region_set(
        user=sender, region=gb, actor=staff_create(SUPPORT), reason="Moved"
    )

    assert creator_hold(creator=creator).on_hold_units == 10 * UNITS_PER_COIN


def test_finance_sets_a_hold_from_now_on_and_nobody_else_can():
    finance, support = staff_create(FINANCE), staff_create(SUPPORT)
    gb = region_create("GB", currency="GBP")

    made = services.earnings_hold_set(region=gb, days=14, actor=finance, reason="Risk")

    assert (made.region, made.days, made.set_by) == (gb, 14, finance)
    assert made.effective_from == made.set_at
    with pytest.raises(ServiceError) as refused:
        services.earnings_hold_set(region=gb, days=3, actor=support, reason="x")
    assert refused.value.status_code == 403
    for bad, field in (
        ({"days": 91}, "days"),
        ({"effective_from": timezone.now() - DAY}, "effective_from"),
        ({"reason": " "}, "reason"),
    ):
        with pytest.raises(ServiceError) as refused:
            services.earnings_hold_set(
                **{"region": gb, "days": 3, "actor": finance, "reason": "x", **bad}
            )
        assert refused.value.field == field
    assert EarningsHold.objects.count() == 1


def test_the_earnings_api_shows_available_on_hold_and_when_each_part_frees(
    api_client,
):
    now = timezone.now()
    sender, _ = buyer_with(1000, at=now - 20 * DAY, txn="t-1")
    creator = creator_create()
    gift(sender, creator, 30, at=now - 10 * DAY, key="old")  # free: 15 diamonds
    gift(sender, creator, 20, at=now - 2 * DAY, key="g-2")  # 10, frees in 5 days
    gift(sender, creator, 8, at=now - 2 * DAY, key="g-3")  # 4, the same day
    gift(sender, creator, 3, at=now, key="g-4")  # 1.5, frees in 7 days
    api_client.force_authenticate(creator.user)

    earnings = api_client.get("/api/v1/creator/earnings/").json()

    assert earnings["diamonds"] == "30.5000"
    assert earnings["on_hold"] == "15.5000"
    assert earnings["available"] == "15.0000"
    assert earnings["on_hold_frees"] == [
        {"on": str((now + 5 * DAY).date()), "diamonds": "14.0000"},
        {"on": str((now + 7 * DAY).date()), "diamonds": "1.5000"},
    ]


def test_a_payout_takes_only_diamonds_that_left_the_hold():
    now = timezone.now()
    creator = rich_creator(diamonds=30_000)  # credited long ago: free
    sender, _ = buyer_with(1000, at=now - DAY, txn="t-1")
    gift(sender, creator, 100, at=now, key="g-1")  # 50 diamonds on hold

    with pytest.raises(payout_services.PayoutRefused) as refused:
        payout_services.payout_request(
            creator=creator, diamond_units=30_001 * DIAMOND, idempotency_key="p-1"
        )
    assert "50 diamonds are on hold" in refused.value.message
    assert refused.value.field == "diamonds"
    assert not Payout.objects.exists()

    paid = payout_services.payout_request(
        creator=creator, diamond_units=None, idempotency_key="p-2"
    ).payout

    assert paid.diamond_units == 30_000 * DIAMOND
    assert wallet_balances(user=creator.user).diamond_units == 50 * DIAMOND


def test_a_store_refund_takes_back_what_is_on_hold_and_records_only_the_rest():
    now = timezone.now()
    sender, bought = buyer_with(100, at=now - 20 * DAY, txn="t-1", price="4.99")
    creator, other = creator_create(), creator_create()
    gift(sender, creator, 30, at=now - 10 * DAY, key="old")  # left the hold
    recent = gift(sender, creator, 20, at=now - DAY, key="g-2")  # on hold
    newest = gift(sender, other, 30, at=now, key="g-3")  # on hold

    result = store_refund("t-1", now=now)

    record = UnrecoveredStoreRefund.objects.get()
    assert result.paid_taken_back == 20  # the 20 coins never spent
    assert (record.paid_coins_spent, record.paid_coins_recovered) == (80, 50)
    assert record.paid_coins_not_recovered == 30
    assert record.diamond_units_recovered == 50 * UNITS_PER_COIN
    # 4.99 × 30 / 100 = 1.497: only the gift that left the hold is lost.
    assert record.paid_value_not_recovered == Money(Decimal("1.50"), "USD")
    assert not record.is_resolved
    assert "The earnings hold recovered 50 spent paid coins" in record.description
    assert sorted(
        HoldRecovery.objects.values_list("gift_send", "paid_coins", "diamond_units")
    ) == sorted(
        [
            (recent.id, 20, 20 * UNITS_PER_COIN),
            (newest.id, 30, 30 * UNITS_PER_COIN),
        ]
    )
    assert wallet_balances(user=creator.user).diamond_units == 30 * UNITS_PER_COIN
    assert wallet_balances(user=other.user).diamond_units == 0
    assert creator_hold(creator=creator, now=now).on_hold_units == 0
    taken = Transfer.objects.filter(kind=Transfer.Kind.HOLD_TAKE_BACK)
    assert {t.reference for t in taken} == {f"purchase:{bought.id}"}
    assert ledger_reconcile().is_clean
    # A repeat of the notification takes back nothing more.
    store_refund("t-1", now=now)
    assert HoldRecovery.objects.count() == 2
    assert UnrecoveredStoreRefund.objects.get().notifications == 2


def test_a_refund_the_hold_recovers_in_full_is_closed_by_the_platform():
    now = timezone.now()
    sender, _ = buyer_with(100, at=now - 2 * DAY, txn="t-1")
    creator = creator_create()
    gift(sender, creator, 100, at=now - DAY, key="g-1")

    store_refund("t-1", now=now)

    record = UnrecoveredStoreRefund.objects.get()
    assert record.is_resolved and record.resolved_by is None
    assert record.paid_value_not_recovered == Money(Decimal("0.00"), "USD")
    assert record.description.startswith("Nothing lost")
    assert wallet_balances(user=creator.user).diamond_units == 0
    assert ledger_reconcile().is_clean


def test_the_hold_takes_back_from_a_creator_whose_payout_is_in_progress():
    now = timezone.now()
    creator = rich_creator(diamonds=30_000)
    sender, _ = buyer_with(100, at=now - DAY, txn="t-1")
    gift(sender, creator, 60, at=now, key="g-1")
    payout_services.payout_request(
        creator=creator, diamond_units=None, idempotency_key="p-1"
    )

    store_refund("t-1")

    # The payout holds the free diamonds; the held ones were still there to take.
    assert wallet_balances(user=creator.user).diamond_units == 0
    assert UnrecoveredStoreRefund.objects.get().paid_coins_recovered == 60
    assert ledger_reconcile().is_clean


def test_a_take_back_never_takes_the_creators_balance_below_zero():
    now = timezone.now()
    creator = creator_create()
    sender, _ = buyer_with(100, at=now - DAY, txn="t-1")
    gift(sender, creator, 60, at=now, key="g-1")  # 30 diamonds
    account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
    ledger.pending_credits_fold(account_id=account.id)
    from django.db import transaction

    with transaction.atomic():
        # Finance took 25.2 diamonds back by hand: 4.8 are left.
        ledger.adjustment_post(
            account=account, amount=-252_000, actor_id=1, client_key="fix"
        )

    store_refund("t-1")

    record = UnrecoveredStoreRefund.objects.get()
    # Whole coins only: 4.8 diamonds are 9 coins' earning (4.5), 0.3 stays.
    assert (record.paid_coins_recovered, record.diamond_units_recovered) == (
        9,
        9 * UNITS_PER_COIN,
    )
    assert wallet_balances(user=creator.user).diamond_units == 3_000
    assert ledger_reconcile().is_clean


def test_gifts_paid_by_another_purchase_of_the_same_buyer_are_not_taken_twice():
    now = timezone.now()
    sender, _ = buyer_with(100, at=now - 3 * DAY, txn="t-1")
    bundle, region = on_sale(coins=100, amount="4.99")
    purchase_buy(sender, bundle, region, key="buy-2", when=now - 2 * DAY, txn="t-2")
    creator = creator_create()
    gift(sender, creator, 150, at=now - DAY, key="g-1")  # all of t-1, half of t-2

    store_refund("t-1", now=now)
    store_refund("t-2", now=now)

    first, second = UnrecoveredStoreRefund.objects.order_by("id")
    assert (first.paid_coins_spent, first.paid_coins_recovered) == (100, 100)
    # The gift's 150 paid coins: 100 already taken back, 50 left for t-2.
    assert (second.paid_coins_spent, second.paid_coins_recovered) == (50, 50)
    assert wallet_balances(user=creator.user).diamond_units == 0
    assert ledger_reconcile().is_clean


ADD_URL = "/admin/gifting/earningshold/add/"


def hold_form(**fields):
    return {
        "region": "",
        "days": "14",
        "effective_from_0": "",
        "effective_from_1": "",
        "reason": "Chargebacks from new buyers",
        **fields,
    }


def test_finance_sets_the_hold_on_its_admin_screen(client):
    finance = staff_create(FINANCE)
    client.force_login(finance)

    answer = client.post(ADD_URL, hold_form())

    assert answer.status_code == 302
    made = EarningsHold.objects.get()
    assert (made.region, made.days, made.set_by) == (None, 14, finance)
    assert made.effective_from == made.set_at
    listing = client.get("/admin/gifting/earningshold/").content.decode()
    assert "All regions" in listing and "14 days" in listing
    assert 'alt="True"' in listing  # in force now


def test_a_backdated_or_bad_hold_is_refused_beside_its_field(client):
    client.force_login(staff_create(FINANCE))
    yesterday = timezone.localtime(timezone.now() - DAY)

    answer = client.post(
        ADD_URL,
        hold_form(
            days="91",
            effective_from_0=f"{yesterday:%Y-%m-%d}",
            effective_from_1=f"{yesterday:%H:%M:%S}",
            reason=" ",
        ),
    )

    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert "days" in errors and "reason" in errors
    assert "gifts already sent keep the hold" in errors["effective_from"][0]
    assert not EarningsHold.objects.exists()


def test_support_reads_the_hold_but_cannot_set_it(client):
    rule(7, at=timezone.now())
    client.force_login(staff_create(SUPPORT))

    assert client.get("/admin/gifting/earningshold/").status_code == 200
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, hold_form()).status_code == 403
    assert EarningsHold.objects.count() == 1


def test_finance_sees_what_the_hold_saved_on_the_dashboard_and_the_refund_list(
    client,
):
    now = timezone.now()
    sender, _ = buyer_with(100, at=now - 20 * DAY, txn="t-1")
    creator = creator_create()
    gift(sender, creator, 30, at=now - 10 * DAY, key="old")
    gift(sender, creator, 40, at=now - DAY, key="g-2")  # 20 diamonds held
    store_refund("t-1", now=now)
    client.force_login(staff_create(FINANCE))

    dashboard = client.get("/admin/reports/moneydashboard/")
    refunds = client.get("/admin/wallets/unrecoveredstorerefund/")

    card = (
        dashboard.content.decode()
        .split('id="hold-saved"')[1]
        .split("</div>\n  </div>")[0]
    )
    assert "20" in card and "$0.10" in card  # 20 diamonds at 0.005
    row = refunds.context["cl"].result_list[0]
    admin = refunds.context["cl"].model_admin
    assert admin.held_back(row) == "40"
    assert admin.coins_not_recovered(row) == "30 + 0 bonus"


def test_a_rule_once_set_is_never_changed_nor_backdated():
    from django.db import DatabaseError, IntegrityError, transaction

    now = timezone.now()
    made = rule(7, at=now)

    with pytest.raises(DatabaseError), transaction.atomic():
        EarningsHold.objects.filter(id=made.id).update(days=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        EarningsHold.objects.create(
            days=3,
            effective_from=now - DAY,
            set_at=now,
            set_by=made.set_by,
            reason="backdated",
        )
    assert EarningsHold.objects.get().days == 7


def test_the_creators_page_says_what_is_on_hold_and_when_it_frees(client):
    now = timezone.now()
    sender, _ = buyer_with(100, at=now - 3 * DAY, txn="t-1")
    creator = creator_create()
    gift(sender, creator, 40, at=now - 2 * DAY, key="g-1")
    client.force_login(staff_create(FINANCE))

    page = client.get(f"/admin/gifting/creatorprofile/{creator.id}/change/")

    frees = (now + 5 * DAY).date()
    line = f"20 diamonds held (20 on the earnings hold, the first free on {frees})"
    assert line in page.content.decode()
