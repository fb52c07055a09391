"""The business in /metrics: what the services count once their transaction
commits, and what a scrape reads from the database (reports/metrics.py)."""

import datetime
import json
import re
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from core import metrics as core_metrics
from gifting import services as gifting_services
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services as payout_services
from payouts.models import Payout
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import on_sale, purchase_buy, staff_create, user_create

pytestmark = pytest.mark.django_db
TOKEN = "m" * 32
ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    class Scrape:
        def response(self) -> str:
            answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
            assert answer.status_code == 200
            return answer.content.decode()

        def __call__(self) -> dict[tuple, float]:
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(self.response())
                for s in family.samples
            }

    return Scrape()


def gift(sender, creator, *, key: str, quantity: int = 3, slug: str = "rose"):
    from catalog.models import Gift

    return gifting_services.gift_send(
        sender=sender,
        creator=creator,
        gift=Gift.objects.get(slug=slug),
        quantity=quantity,
        placement="live",
        stream_id="s-1",
        region=None,
        idempotency_key=key,
    )


def test_a_gift_send_counts_once_with_its_coins_by_gift_and_home_region(
    django_capture_on_commit_callbacks,
):
    rose(coin_price=7)
    sender, creator = funded_sender(100), creator_create()
    before = (
        sample("giftshop_gift_sends_total", gift="rose", region="US"),
        sample("giftshop_gift_coins_total", gift="rose", region="US"),
    )

    with django_capture_on_commit_callbacks(execute=True):
        gift(sender, creator, key="g1")
        # A repeat of the same send moves nothing, and counts nothing.
        gift(sender, creator, key="g1")

    assert sample("giftshop_gift_sends_total", gift="rose", region="US") == (
        before[0] + 1
    )
    assert sample("giftshop_gift_coins_total", gift="rose", region="US") == (
        before[1] + 21
    )


def test_a_send_rolled_back_counts_nothing(django_capture_on_commit_callbacks):
    rose()
    sender, creator = funded_sender(100), creator_create()
    before = sample("giftshop_gift_sends_total", gift="rose", region="US")

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            gift(sender, creator, key="g-undone")
            raise RuntimeError("the caller's transaction fails after the send")

    assert sample("giftshop_gift_sends_total", gift="rose", region="US") == before


def test_purchases_and_refunds_count_by_currency_and_store(
    django_capture_on_commit_callbacks,
):
    buyer = user_create()
    bundle, region = on_sale(coins=300, amount="2.99")
    labels = {"currency": "USD", "store": "apple"}
    before = {
        "purchases": sample("giftshop_purchases_total", **labels),
        "revenue": sample("giftshop_purchase_revenue_minor_units_total", **labels),
        "coins": sample("giftshop_purchase_coins_total", kind="paid", store="apple"),
        "refunds": sample(
            "giftshop_refunds_total", store="apple", source="finance", recovered="yes"
        ),
    }

    with django_capture_on_commit_callbacks(execute=True):
        first = purchase_buy(buyer, bundle, region, key="p1").purchase
        purchase_buy(buyer, bundle, region, key="p2")
        wallet_services.purchase_refund(
            purchase=first,
            actor=staff_create("Finance"),
            reason="Bought twice by mistake",
            source="finance",
        )

    assert sample("giftshop_purchases_total", **labels) == before["purchases"] + 2
    # $2.99 twice, in cents: whole numbers, compared exactly.
    assert (
        sample("giftshop_purchase_revenue_minor_units_total", **labels)
        == before["revenue"] + 598
    )
    assert (
        sample("giftshop_purchase_coins_total", kind="paid", store="apple")
        == before["coins"] + 600
    )
    assert (
        sample(
            "giftshop_refunds_total", store="apple", source="finance", recovered="yes"
        )
        == before["refunds"] + 1
    )


def test_payout_requests_and_moves_are_counted(django_capture_on_commit_callbacks):
    creator = rich_creator(diamonds=50_000)
    before = {
        "requested": sample(
            "giftshop_payout_requests_total", currency="USD", method="paypal"
        ),
        "approved": sample("giftshop_payout_moves_total", to_status="approved"),
    }

    with django_capture_on_commit_callbacks(execute=True):
        payout = payout_services.payout_request(
            creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="k"
        ).payout
        payout_services.payout_approve(payout=payout, actor=staff_create("Finance"))

    assert (
        sample("giftshop_payout_requests_total", currency="USD", method="paypal")
        == before["requested"] + 1
    )
    assert (
        sample("giftshop_payout_moves_total", to_status="approved")
        == before["approved"] + 1
    )


def test_a_scrape_reads_waiting_payouts_and_their_age(scrape):
    now = timezone.now()
    for days, diamonds in ((3, 20_000), (1, 30_000)):
        payout = payout_services.payout_request(
            creator=rich_creator(diamonds=50_000),
            diamond_units=diamonds * DIAMOND_SCALE,
            idempotency_key=f"k-{days}",
        ).payout
        Payout.objects.filter(id=payout.id).update(
            requested_at=now - datetime.timedelta(days=days)
        )

    figures = scrape()

    assert figures[("giftshop_payouts_waiting", (("status", "requested"),))] == 2
    assert figures[("giftshop_payouts_waiting", (("status", "approved"),))] == 0
    age = figures[
        ("giftshop_payouts_waiting_oldest_age_seconds", (("status", "requested"),))
    ]
    # Three days, and the seconds the test took since `now`.
    assert 3 * 86_400 <= age < 3 * 86_400 + 60
    assert figures[("giftshop_metrics_database_up", ())] == 1


def test_a_scrape_reads_pending_credits_and_the_last_reconciliation(scrape):
    rose(coin_price=5)
    sender, creator = funded_sender(100), creator_create()
    assert ("giftshop_reconciliation_age_seconds", ()) not in scrape()
    gift(sender, creator, key="g1", quantity=2)
    run = ledger_reconcile()

    figures = scrape()

    # The creator's earning waits as a pending credit until the fold.
    assert figures[("giftshop_pending_credits", ())] == 1
    assert figures[("giftshop_pending_credit_units", ())] > 0
    assert figures[("giftshop_reconciliation_problems", ())] == 0
    assert figures[
        ("giftshop_reconciliation_last_finished_timestamp_seconds", ())
    ] == pytest.approx(run.finished_at.timestamp())
    assert 0 <= figures[("giftshop_reconciliation_age_seconds", ())] < 60


def test_the_grafana_dashboard_asks_only_for_figures_that_exist(scrape, monkeypatch):
    # Every figure there is: a reconciliation run, and the broker's queues (an
    # in-memory broker here).
    ledger_reconcile()
    monkeypatch.setattr(
        core_metrics,
        "_scrape_collectors",
        [*core_metrics._scrape_collectors, core_metrics.queue_lengths_collector],
    )
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"giftshop_[a-z_]+", target["expr"])
    }
    response = scrape.response()
    exposed = set()
    for family in text_string_to_metric_families(response):
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
        }.get(family.type, [""])
        exposed |= {family.name + suffix for suffix in suffixes}

    assert asked, "the dashboard names no figure"
    assert asked <= exposed, sorted(asked - exposed)
