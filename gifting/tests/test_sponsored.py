"""Brand-funded gifts: a campaign's budget pays part of a gift (issue 17)."""

import datetime
import itertools
import threading

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import FINANCE, SUPPORT
from catalog.tests.factories import gift_create
from core.errors import ServiceError
from gifting import selectors, services
from gifting.models import (
    GifterTotal,
    GiftSend,
    SponsorCampaign,
    SponsorFunding,
    StreamGifter,
)
from gifting.services import sponsors
from gifting.tests.factories import creator_create, funded_sender
from wallets import ledger
from wallets.ledger import InsufficientBalance
from wallets.models import AccountKind, LedgerAccount, Purchase, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import region_create, staff_create, user_create

pytestmark = pytest.mark.django_db
_keys = itertools.count(1)
DAY = datetime.timedelta(days=1)


def campaign_create(gift, *, subsidy=4, cap=50, budget=100, regions=(), **fields):
    """A campaign running now, funded with `budget` coins by two finance users."""
    now = timezone.now()
    fields = {
        "name": "Spring",
        "sponsor_name": "Acme",
        "starts_at": now - DAY,
        "ends_at": now + DAY,
        **fields,
    }
    campaign = sponsors.sponsor_campaign_save(
        campaign=SponsorCampaign(
            gift=gift, subsidy_coins=subsidy, per_user_cap_coins=cap, **fields
        )
    )
    campaign.regions.set(regions)
    if budget:
        fund(campaign, budget)
    return campaign


def fund(campaign, coins):
    recorder, confirmer = staff_create(FINANCE), staff_create(FINANCE)
    funding = sponsors.sponsor_funding_request(
        campaign=campaign,
        coins=coins,
        money_received=Money("500.00", "USD"),
        payment_reference=f"ACME-INV-{next(_keys)}",
        actor=recorder,
    )
    return sponsors.sponsor_funding_confirm(funding=funding, actor=confirmer)


def send(sender, creator, gift, quantity=1, key=None, stream_id="s-1"):
    return services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=quantity,
        placement="live",
        stream_id=stream_id,
        region=None,
        idempotency_key=key or f"g-{next(_keys)}",
    ).gift_send


def budget_of(campaign) -> int:
    return LedgerAccount.objects.get(id=campaign.budget_id).balance


def coins_of(user) -> int:
    balances = wallet_balances(user=user)
    return balances.paid_coins + balances.bonus_coins


def test_a_sponsored_gift_costs_the_sender_less_and_the_creator_earns_its_value():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, subsidy=4, cap=50, budget=100)
    sender, creator = funded_sender(coins=1000), creator_create()

    sent = send(sender, creator, gift, quantity=3)

    assert (sent.coins, sent.subsidy_coins, sent.campaign_id) == (30, 12, campaign.id)
    # Level 1 pays 50 %: of the whole value, 30 coins.
    assert (sent.creator_diamond_units, sent.platform_diamond_units) == (
        150_000,
        150_000,
    )
    assert coins_of(sender) == 1000 - 18
    assert budget_of(campaign) == 100 - 12
    legs = {
        t.idempotency_key.rsplit(":", 1)[1]: (t.debit_account.kind, t.amount)
        for t in Transfer.objects.filter(reference=f"gift:{sent.id}")
    }
    assert legs == {
        "paid": (AccountKind.PAID_COINS, 18),
        "sponsor": (AccountKind.SPONSOR_BUDGET, 12),
        "creator": (AccountKind.DIAMOND_ISSUANCE, 150_000),
        "platform": (AccountKind.DIAMOND_ISSUANCE, 150_000),
    }
    # The sender's purchase gave only the sender's part: the rest stays refundable.
    assert Purchase.objects.get(user=sender).paid_coins_remaining == 1000 - 18
    # The leaderboards (the stream's, all time) and the level count what the
    # sender gave.
    boards = StreamGifter.objects.filter(sender=sender)
    assert sorted(boards.values_list("stream_id", "coins")) == [("", 18), ("s-1", 18)]
    assert GifterTotal.objects.get(user=sender).coins == 18
    assert ledger_reconcile().is_clean


def test_a_budget_too_small_for_the_subsidy_falls_back_to_the_full_price():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, subsidy=4, cap=50, budget=10)
    sender, creator = funded_sender(coins=100), creator_create()

    first, second, third = (send(sender, creator, gift, quantity=q) for q in (2, 1, 1))

    assert [s.subsidy_coins for s in (first, second, third)] == [8, 0, 0]
    assert [s.campaign_id for s in (first, second, third)] == [campaign.id, None, None]
    assert budget_of(campaign) == 2
    assert coins_of(sender) == 100 - 12 - 10 - 10
    assert ledger_reconcile().is_clean


def test_a_sender_past_their_cap_pays_the_full_price_and_others_still_get_it():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, subsidy=4, cap=10, budget=100)
    alice, bob, creator = funded_sender(coins=100), funded_sender(), creator_create()

    alices = [send(alice, creator, gift).subsidy_coins for _ in range(3)]
    bobs = send(bob, creator, gift).subsidy_coins

    assert (alices, bobs) == ([4, 4, 0], 4)
    assert budget_of(campaign) == 100 - 12
    report = selectors.sponsor_campaigns_reported().get(id=campaign.id)
    assert (
        report.gifts,
        report.senders,
        report.coins_subsidized,
        report.coins_funded,
        report.budget_left,
    ) == (3, 2, 12, 100, 88)


def test_a_subsidy_larger_than_the_price_makes_the_gift_free_and_no_more():
    gift = gift_create(coin_price=5)
    campaign = campaign_create(gift, subsidy=9, cap=50, budget=100)
    # No coins and no home region: a campaign of every region still pays.
    sender, creator = user_create(), creator_create()

    sent = send(sender, creator, gift, quantity=2)

    assert (sent.coins, sent.subsidy_coins) == (10, 10)
    assert budget_of(campaign) == 90
    assert not Transfer.objects.filter(
        reference=f"gift:{sent.id}", kind=Transfer.Kind.GIFT
    ).exists()
    assert ledger_reconcile().is_clean


@pytest.mark.parametrize("where", ["other_region", "ended", "not_started"])
def test_a_campaign_pays_only_in_its_regions_and_while_it_runs(where):
    gift = gift_create(coin_price=10)
    now = timezone.now()
    fields = {
        "other_region": {"regions": [region_create("DE", "EUR")]},
        "ended": {"starts_at": now - 2 * DAY, "ends_at": now - DAY},
        "not_started": {"starts_at": now + DAY, "ends_at": now + 2 * DAY},
    }[where]
    campaign = campaign_create(gift, budget=0, **fields)
    # Funded while it still could be (before it ended).
    ledger_budget = LedgerAccount.objects.get(id=campaign.budget_id)
    with transaction.atomic():
        ledger.sponsor_funding_post(funding_id=0, budget=ledger_budget, coins=100)
    sender, creator = funded_sender(coins=100), creator_create()  # home region US

    sent = send(sender, creator, gift)

    assert (sent.subsidy_coins, sent.campaign_id) == (0, None)
    assert coins_of(sender) == 90
    assert budget_of(campaign) == 100


def test_a_campaign_of_the_senders_region_pays():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, regions=[region_create("US")])
    sender, creator = funded_sender(coins=100), creator_create()

    assert send(sender, creator, gift).subsidy_coins == 4
    assert budget_of(campaign) == 96


def test_a_sender_who_cannot_pay_their_part_is_refused_and_nothing_moves():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, subsidy=4)
    sender, creator = funded_sender(coins=5), creator_create()

    with pytest.raises(InsufficientBalance) as refused:
        send(sender, creator, gift)

    assert refused.value.extra == {"balance": 5, "needed": 6}
    assert not GiftSend.objects.exists()
    assert (budget_of(campaign), coins_of(sender)) == (100, 5)


def test_a_repeated_key_takes_the_subsidy_once():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift)
    sender, creator = funded_sender(coins=100), creator_create()

    first = send(sender, creator, gift, key="same")
    again = send(sender, creator, gift, key="same")

    assert first.id == again.id
    assert (budget_of(campaign), coins_of(sender)) == (96, 94)


def test_a_creator_gifting_themselves_farms_no_subsidy():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift)
    creator = creator_create(user=funded_sender(coins=100))

    with pytest.raises(ServiceError, match="yourself"):
        send(creator.user, creator, gift)

    assert budget_of(campaign) == 100
    assert not GiftSend.objects.exists()


def test_a_campaigns_budget_never_goes_below_zero_in_the_database():
    campaign = campaign_create(gift_create(), budget=5)

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(id=campaign.budget_id).update(balance=-1)


def test_reconciliation_finds_a_budget_out_of_step_with_its_transfers():
    campaign = campaign_create(gift_create(), budget=5)
    LedgerAccount.objects.filter(id=campaign.budget_id).update(balance=7)

    problems = ledger_reconcile().problems

    assert any(
        f"Account {campaign.budget_id} (sponsor_budget): cached balance 7" in p
        for p in problems
    )


# Funding: four eyes.


def funding_recorded(campaign, actor, coins=100):
    return sponsors.sponsor_funding_request(
        campaign=campaign,
        coins=coins,
        money_received=Money("250.00", "USD"),
        payment_reference="ACME-1",
        actor=actor,
    )


def test_a_funding_moves_nothing_until_a_second_finance_user_confirms_it():
    campaign = campaign_create(gift_create(), budget=0)
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)

    funding = funding_recorded(campaign, alice)
    assert (funding.status, budget_of(campaign)) == ("requested", 0)
    with pytest.raises(ServiceError) as own:
        sponsors.sponsor_funding_confirm(funding=funding, actor=alice)
    assert (own.value.code, budget_of(campaign)) == ("own_request", 0)

    confirmed = sponsors.sponsor_funding_confirm(funding=funding, actor=bob)

    assert (confirmed.status, confirmed.decided_by, budget_of(campaign)) == (
        "approved",
        bob,
        100,
    )
    assert confirmed.money_received == Money("250.00", "USD")
    assert confirmed.transfer.debit_account.kind == AccountKind.SPONSOR_FUNDING
    with pytest.raises(ServiceError) as again:
        sponsors.sponsor_funding_confirm(funding=funding, actor=staff_create(FINANCE))
    assert (again.value.code, budget_of(campaign)) == ("already_decided", 100)
    assert ledger_reconcile().is_clean


def test_the_database_refuses_a_funding_confirmed_by_who_recorded_it():
    campaign = campaign_create(gift_create(), budget=0)
    alice = staff_create(FINANCE)
    funding = funding_recorded(campaign, alice)

    with pytest.raises(IntegrityError), transaction.atomic():
        SponsorFunding.objects.filter(id=funding.id).update(
            status="approved", decided_by=alice, transfer=Transfer.objects.first()
        )


def test_a_rejected_funding_moves_nothing():
    campaign = campaign_create(gift_create(), budget=0)
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    funding = funding_recorded(campaign, alice)

    rejected = sponsors.sponsor_funding_reject(
        funding=funding, actor=bob, reason="No such payment on the statement"
    )

    assert (rejected.status, rejected.transfer, budget_of(campaign)) == (
        "rejected",
        None,
        0,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"coins": 0}, "coins"),
        ({"money_received": Money("0.00", "USD")}, "money_received"),
        ({"payment_reference": "  "}, "payment_reference"),
    ],
)
def test_a_bad_funding_is_refused_on_its_field_and_nothing_is_written(changes, field):
    campaign = campaign_create(gift_create(), budget=0)
    arguments = {
        "campaign": campaign,
        "coins": 100,
        "money_received": Money("250.00", "USD"),
        "payment_reference": "ACME-1",
        "actor": staff_create(FINANCE),
        **changes,
    }

    with pytest.raises(ServiceError) as refused:
        sponsors.sponsor_funding_request(**arguments)

    assert refused.value.field == field
    assert not SponsorFunding.objects.exists()


def test_only_finance_records_or_confirms_a_funding():
    campaign = campaign_create(gift_create(), budget=0)
    support = staff_create(SUPPORT)

    with pytest.raises(ServiceError) as refused:
        funding_recorded(campaign, support)
    assert refused.value.status_code == 403
    funding = funding_recorded(campaign, staff_create(FINANCE))
    with pytest.raises(ServiceError):
        sponsors.sponsor_funding_confirm(funding=funding, actor=support)
    assert budget_of(campaign) == 0


# The admin: the report and its export, funding with an error beside the field.


def test_the_campaign_report_exports_for_billing(client):
    gift = gift_create(coin_price=10, name="Lion")
    campaign = campaign_create(gift, subsidy=4, budget=100)
    send(funded_sender(coins=100), creator_create(), gift, quantity=2)
    client.force_login(staff_create(FINANCE))

    listed = client.get("/admin/gifting/sponsorcampaign/")
    exported = client.post("/admin/gifting/sponsorcampaign/export/", {"format": "csv"})

    assert listed.status_code == 200
    assert "Budget left" in listed.content.decode()
    lines = b"".join(exported.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,campaign,sponsor,gift,")
    assert lines[1].split(",")[0] == str(campaign.id)
    assert lines[1].endswith(",1,1,8,100,92")


def test_a_funding_past_its_limit_is_refused_beside_the_field(client):
    campaign = campaign_create(gift_create(), budget=0)
    client.force_login(staff_create(FINANCE))

    response = client.post(
        "/admin/gifting/sponsorfunding/add/",
        {
            "campaign": campaign.id,
            "coins": 10**13,
            "money_received_0": "100.00",
            "money_received_1": "USD",
            "payment_reference": "ACME-1",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "coins": ["Fund 1 to 1,000,000,000,000 coins at once."]
    }
    assert not SponsorFunding.objects.exists()


# Property: random sends against a budget and caps.


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    budget=st.integers(1, 60),
    subsidy=st.integers(1, 12),
    cap=st.integers(1, 40),
    sends=st.lists(
        st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=8
    ),
)
def test_budget_and_caps_hold_and_every_unit_sums_to_zero(budget, subsidy, cap, sends):
    with transaction.atomic():
        _sends_checked(budget, subsidy, cap, sends)
        transaction.set_rollback(True)


def _sends_checked(budget, subsidy, cap, sends):
    gift = gift_create(coin_price=5)
    campaign = campaign_create(gift, subsidy=subsidy, cap=cap, budget=budget)
    senders = [funded_sender(coins=100) for _ in range(3)]
    creator = creator_create()
    per_gift = min(subsidy, 5)
    for who, quantity in sends:
        sender = senders[who]
        had = sum(
            GiftSend.objects.filter(sender=sender, campaign=campaign).values_list(
                "subsidy_coins", flat=True
            )
        )
        left = budget_of(campaign)
        sent = send(sender, creator, gift, quantity=quantity)
        wanted = per_gift * quantity
        pays = wanted <= left and had + wanted <= cap
        assert sent.subsidy_coins == (wanted if pays else 0)
        assert budget_of(campaign) == left - sent.subsidy_coins >= 0
    subsidized = sum(GiftSend.objects.values_list("subsidy_coins", flat=True))
    assert subsidized == budget - budget_of(campaign)
    for sender in senders:
        given_to = GiftSend.objects.filter(sender=sender)
        assert sum(given_to.values_list("subsidy_coins", flat=True)) <= cap
    assert ledger_reconcile().is_clean


# PostgreSQL: races.

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Row locks need PostgreSQL; SQLite runs one writer at a time.",
)


def sent_at_once(pairs, creator, gift):
    """Each (sender, key) sends one gift, all released together; the sends."""
    start = threading.Barrier(len(pairs))
    sent, errors = [], []

    def run(sender, key):
        try:
            start.wait()
            sent.append(send(sender, creator, gift, key=key))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return sent


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@needs_postgres
def test_senders_racing_for_a_small_budget_never_overdraw_it():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, subsidy=4, cap=50, budget=12)
    senders = [funded_sender(coins=100) for _ in range(8)]
    creator = creator_create()

    sent = sent_at_once([(s, f"race-{s.id}") for s in senders], creator, gift)

    assert sorted(s.subsidy_coins for s in sent) == [0] * 5 + [4] * 3
    assert budget_of(campaign) == 0
    paid = sum(coins_of(s) for s in senders)
    assert paid == 8 * 100 - (8 * 10 - 12)
    assert ledger_reconcile().is_clean


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@needs_postgres
def test_one_sender_racing_past_their_cap_gets_it_once():
    gift = gift_create(coin_price=10)
    campaign = campaign_create(gift, subsidy=4, cap=8, budget=100)
    sender, creator = funded_sender(coins=100), creator_create()

    sent = sent_at_once([(sender, f"cap-{i}") for i in range(6)], creator, gift)

    assert sorted(s.subsidy_coins for s in sent) == [0] * 4 + [4] * 2
    assert budget_of(campaign) == 92
    assert coins_of(sender) == 100 - 60 + 8
    assert ledger_reconcile().is_clean


def test_finance_confirms_another_ones_funding_from_the_list_but_never_their_own(
    client,
):
    campaign = campaign_create(gift_create(), budget=0)
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    funding = funding_recorded(campaign, alice)
    confirm = {"action": "confirm", "_selected_action": [funding.id]}

    client.force_login(alice)
    own = client.post("/admin/gifting/sponsorfunding/", confirm, follow=True)
    assert "someone other than who recorded" in own.content.decode()
    assert budget_of(campaign) == 0
    client.force_login(bob)
    client.post("/admin/gifting/sponsorfunding/", confirm)

    funding.refresh_from_db()
    assert (funding.status, funding.decided_by, budget_of(campaign)) == (
        "approved",
        bob,
        100,
    )


def test_the_api_answers_a_sponsored_send_with_the_wallet_after_the_senders_part(
    api_client,
):
    gift = gift_create(coin_price=10, slug="lion")
    campaign_create(gift, subsidy=4)
    sender, creator = funded_sender(coins=100), creator_create()
    api_client.force_authenticate(sender)

    response = api_client.post(
        "/api/v1/gift-sends/",
        {
            "gift": "lion",
            "creator": creator.id,
            "quantity": 2,
            "placement": "live",
            "stream_id": "s-9",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="api-1",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["gift_send"]["coins"], body["wallet"]["coins"]) == (20, 88)
