"""Derived prices: preview every move in a proposal, then apply or discard it."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from catalog import selectors, services, tasks
from catalog.models import BundlePrice, Region, RepricingProposal

from .factories import bundle_create, price_create, rate_set, region_create

pytestmark = pytest.mark.django_db

APP, WEB = BundlePrice.Channel.APP, BundlePrice.Channel.WEB
DERIVED, MANUAL = BundlePrice.Source.DERIVED, BundlePrice.Source.MANUAL
Status = RepricingProposal.Status


class FixedRatesBackend(BaseExchangeBackend):
    """An online rates service, minus the network."""

    name = "fixed"

    def get_rates(self, **params):
        return {"JPY": Decimal("160")}


@pytest.fixture
def regions():
    rate_set("JPY", "150")
    rate_set("IDR", "15800")
    return {
        "US": region_create("US"),
        "JP": region_create(
            "JP",
            currency="JPY",
            price_rule=Region.PriceRule.WHOLE,
            web_discount_percent=Decimal("10"),
        ),
        "ID": region_create(
            "ID",
            currency="IDR",
            price_rule=Region.PriceRule.ROUND_100,
            web_discount_percent=Decimal("20"),
        ),
    }


def moves(proposal):
    return {
        (line.region.code, line.channel): (
            line.old_money.amount if line.old_money else None,
            line.new_price.amount,
        )
        for line in proposal.lines.select_related("region", "old_price")
    }


def prices_now():
    return {
        (row.bundle.sku, row.region.code, row.channel): (row.price, row.source)
        for row in selectors.bundle_prices_in_force(when=timezone.now()).select_related(
            "bundle", "region"
        )
    }


def test_a_proposal_previews_every_move_and_changes_no_price(regions, catalog_editor):
    bundle_create(sku="coins_100", base_price=Money("0.99", "USD"))

    proposal = services.repricing_proposal_create(bundles=None, actor=catalog_editor)

    assert moves(proposal) == {
        ("US", APP): (None, Decimal("0.99")),
        ("US", WEB): (None, Decimal("0.99")),
        ("JP", APP): (None, Decimal("149")),  # 148.5
        ("JP", WEB): (None, Decimal("134")),  # 149 less 10%: 134.1
        ("ID", APP): (None, Decimal("15600")),  # 15642
        ("ID", WEB): (None, Decimal("12500")),  # 15600 less 20%: 12480
    }
    assert (proposal.status, proposal.created_by) == (Status.PENDING, catalog_editor)
    assert not BundlePrice.objects.exists()


def test_a_line_shows_the_old_price_and_the_change_in_percent(regions):
    bundle = bundle_create(base_price=Money("0.99", "USD"))
    price_create(bundle, regions["JP"], "149", source=DERIVED)
    rate_set("JPY", "160")

    proposal = services.repricing_proposal_create(bundles=[bundle], actor=None)

    line = proposal.lines.get(region=regions["JP"], channel=APP)
    assert (line.old_money, line.new_price) == (
        Money("149", "JPY"),
        Money("158", "JPY"),
    )
    assert line.change_percent == Decimal("6.0")
    assert line.exchange_rate == Decimal("160")


def test_apply_makes_the_prices_live_as_derived_rows(regions, catalog_editor):
    bundle = bundle_create(sku="coins_100", base_price=Money("0.99", "USD"))
    proposal = services.repricing_proposal_create(bundles=None, actor=None)

    rows = services.repricing_proposal_apply(proposal=proposal, actor=catalog_editor)

    assert len(rows) == 6 == BundlePrice.objects.count()
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == (Status.APPLIED, catalog_editor)
    for row in BundlePrice.objects.all():
        assert (row.source, row.created_by) == (DERIVED, catalog_editor)
        assert row.effective_at == proposal.decided_at
    jp_app = selectors.bundle_price_current(
        bundle=bundle, region=regions["JP"], channel=APP, when=timezone.now()
    )
    assert (jp_app.price, jp_app.exchange_rate) == (Money("149", "JPY"), Decimal(150))
    assert not proposal.lines.filter(applied_price__isnull=True).exists()


def test_applying_twice_applies_once(regions, catalog_editor):
    bundle_create()
    proposal = services.repricing_proposal_create(bundles=None, actor=None)
    services.repricing_proposal_apply(proposal=proposal, actor=catalog_editor)
    stored = set(BundlePrice.objects.values_list("id", flat=True))

    again = RepricingProposal.objects.get(id=proposal.id)
    with pytest.raises(ValidationError) as error:
        services.repricing_proposal_apply(proposal=again, actor=catalog_editor)

    assert error.value.messages == [
        f"Re-pricing #{proposal.id} is no longer waiting for review: it is applied."
    ]
    assert set(BundlePrice.objects.values_list("id", flat=True)) == stored


def test_hand_set_prices_are_never_proposed_nor_overwritten(regions, catalog_editor):
    bundle = bundle_create(sku="coins_100", base_price=Money("0.99", "USD"))
    price_create(bundle, regions["JP"], "480")
    price_create(
        bundle,
        regions["US"],
        "1.49",
        effective_at=timezone.now() + datetime.timedelta(days=1),
    )

    proposal = services.repricing_proposal_create(bundles=None, actor=None)

    proposed = moves(proposal)
    assert ("JP", APP) not in proposed
    assert ("US", APP) not in proposed  # a scheduled hand-set price counts too
    assert proposed[("JP", WEB)] == (None, Decimal("432"))  # 480 less 10%
    services.repricing_proposal_apply(proposal=proposal, actor=catalog_editor)
    assert prices_now()["coins_100", "JP", APP] == (Money("480", "JPY"), MANUAL)


def test_discard_leaves_everything_as_it_was(regions, catalog_editor):
    bundle = bundle_create(sku="coins_100")
    price_create(bundle, regions["JP"], "140", source=DERIVED)
    before = prices_now()
    proposal = services.repricing_proposal_create(bundles=None, actor=None)

    services.repricing_proposal_discard(proposal=proposal, actor=catalog_editor)

    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == (Status.DISCARDED, catalog_editor)
    assert prices_now() == before
    assert BundlePrice.objects.count() == 1
    with pytest.raises(ValidationError, match="it is discarded"):
        services.repricing_proposal_apply(proposal=proposal, actor=catalog_editor)
    assert BundlePrice.objects.count() == 1


def test_a_price_changed_since_the_proposal_is_left_out_on_apply(
    regions, catalog_editor
):
    bundle = bundle_create(sku="coins_100")
    proposal = services.repricing_proposal_create(bundles=None, actor=None)
    services.bundle_prices_set(
        bundle=bundle,
        prices={(regions["JP"], APP): Decimal("500")},
        effective_at=None,
        actor=catalog_editor,
    )

    rows = services.repricing_proposal_apply(proposal=proposal, actor=catalog_editor)

    assert len(rows) == 5
    assert prices_now()["coins_100", "JP", APP] == (Money("500", "JPY"), MANUAL)
    skipped = proposal.lines.get(region=regions["JP"], channel=APP)
    assert skipped.applied_price is None


def test_nothing_to_move_makes_no_proposal(regions):
    bundle = bundle_create()
    proposal = services.repricing_proposal_create(bundles=None, actor=None)
    services.repricing_proposal_apply(proposal=proposal, actor=None)

    assert services.repricing_proposal_create(bundles=[bundle], actor=None) is None
    assert RepricingProposal.objects.count() == 1


def test_the_same_moves_are_not_proposed_twice(regions):
    bundle_create()
    first = services.repricing_proposal_create(bundles=None, actor=None)

    again = services.repricing_proposal_create(bundles=None, actor=None)

    assert again == first
    assert RepricingProposal.objects.get().status == Status.PENDING


def test_a_newer_proposal_puts_a_pending_one_out_of_date(regions, catalog_editor):
    bundle_create()
    older = services.repricing_proposal_create(bundles=None, actor=None)
    rate_set("JPY", "160")

    newer = services.repricing_proposal_create(bundles=None, actor=None)

    older.refresh_from_db()
    assert older.status == Status.SUPERSEDED
    assert older.decided_at is not None
    assert newer.status == Status.PENDING
    with pytest.raises(ValidationError, match="it is out of date"):
        services.repricing_proposal_apply(proposal=older, actor=catalog_editor)
    assert not BundlePrice.objects.exists()


def test_a_proposal_for_one_bundle_leaves_wider_ones_pending(regions):
    one = bundle_create()
    bundle_create()
    wider = services.repricing_proposal_create(bundles=None, actor=None)
    rate_set("JPY", "160")

    narrow = services.repricing_proposal_create(bundles=[one], actor=None)

    wider.refresh_from_db()
    assert wider.status == Status.PENDING
    assert set(narrow.lines.values_list("bundle", flat=True)) == {one.id}


def test_a_missing_rate_leaves_its_regions_out_with_a_note(regions):
    region_create("KR", currency="KRW", price_rule=Region.PriceRule.WHOLE)
    bundle_create()

    proposal = services.repricing_proposal_create(bundles=None, actor=None)

    assert proposal.notes == "No USD to KRW exchange rate: KR left out."
    assert not proposal.lines.filter(region__code="KR").exists()
    assert proposal.lines.filter(region__code="JP").exists()


def test_inactive_bundles_and_regions_are_not_priced(regions):
    bundle_create(is_active=False)
    active = bundle_create()
    regions["ID"].is_active = False
    regions["ID"].save()

    proposal = services.repricing_proposal_create(bundles=None, actor=None)

    assert {line.bundle_id for line in proposal.lines.all()} == {active.id}
    assert {code for code, _ in moves(proposal)} == {"US", "JP"}


def test_the_refresh_task_proposes_and_applies_nothing(regions):
    bundle_create()
    proposal = services.repricing_proposal_create(bundles=None, actor=None)
    services.repricing_proposal_apply(proposal=proposal, actor=None)
    stored = BundlePrice.objects.count()

    assert tasks.refresh_exchange_rates.apply().get() is None
    rate_set("JPY", "160")  # staff edit the rate in the admin
    proposal_id = tasks.refresh_exchange_rates.apply().get()
    assert tasks.refresh_exchange_rates.apply().get() == proposal_id

    proposal = RepricingProposal.objects.get(id=proposal_id)
    assert (proposal.created_by, proposal.status) == (None, Status.PENDING)
    assert moves(proposal) == {
        ("JP", APP): (Decimal("149"), Decimal("158")),
        ("JP", WEB): (Decimal("134"), Decimal("142")),  # 158 less 10%: 142.2
    }
    assert BundlePrice.objects.count() == stored


def test_the_staff_backend_exists_after_a_refresh_so_rates_can_be_added():
    services.exchange_rates_refresh()

    backend = ExchangeBackend.objects.get()
    assert (backend.name, backend.base_currency) == ("staff", "USD")
    assert not Rate.objects.exists()


def test_the_refresh_fetches_from_the_configured_backend(regions, settings):
    settings.EXCHANGE_BACKEND = "catalog.tests.test_repricing.FixedRatesBackend"
    bundle_create()

    proposal = services.exchange_rates_refresh()

    assert Rate.objects.get(backend="fixed").value == Decimal("160")
    # The fixed backend has no IDR rate: derivation uses only that backend's rates.
    assert proposal.notes == "No USD to IDR exchange rate: ID left out."
    assert moves(proposal)[("JP", APP)] == (None, Decimal("158"))
