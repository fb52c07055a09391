"""Re-pricing under real concurrency: threads against PostgreSQL."""

import threading

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections

from catalog import services
from catalog.models import BundlePrice, Region, RepricingProposal

from .factories import bundle_create, rate_set, region_create

pytestmark = [
    # Serialized rollback puts the migrations' data (roles, schedules) back afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]


def test_many_clicks_on_apply_at_once_apply_the_proposal_once():
    rate_set("JPY", "150")
    region_create("US")
    region_create("JP", currency="JPY", price_rule=Region.PriceRule.WHOLE)
    for _ in range(3):
        bundle_create()
    proposal = services.repricing_proposal_create(bundles=None, actor=None)
    lines = proposal.lines.count()
    start = threading.Barrier(8)
    outcomes = []

    def click():
        try:
            start.wait()
            same = RepricingProposal.objects.get(id=proposal.id)
            rows = services.repricing_proposal_apply(proposal=same, actor=None)
            outcomes.append(len(rows))
        except ValidationError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes, key=str) == sorted([lines] + ["refused"] * 7, key=str)
    assert BundlePrice.objects.count() == lines == 12
