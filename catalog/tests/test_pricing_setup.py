"""What migrations set up for pricing: the roles' permissions, the beat schedule,
and price rules for regions an earlier seed created."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from catalog.models import Region

pytestmark = pytest.mark.django_db

PRICING = {
    "catalog": ("coinbundle", "bundleprice", "repricingproposal", "repricingline"),
    "exchange": ("rate", "exchangebackend"),
}


def granted(group_name: str, model: str) -> set[str]:
    codenames = Group.objects.get(name=group_name).permissions.filter(
        codename__endswith=f"_{model}"
    )
    return {
        codename.split("_")[0]
        for codename in codenames.values_list("codename", flat=True)
    }


@pytest.mark.parametrize(
    "model", [model for models in PRICING.values() for model in models]
)
def test_catalog_editors_add_and_change_pricing_but_never_delete(model):
    assert granted(CATALOG_EDITORS, model) == {"add", "change", "view"}


@pytest.mark.parametrize("role", [FINANCE, SUPPORT])
@pytest.mark.parametrize(
    "model", [model for models in PRICING.values() for model in models]
)
def test_finance_and_support_only_view_pricing(role, model):
    assert granted(role, model) == {"view"}


def test_the_rates_refresh_runs_hourly_on_beat():
    task = PeriodicTask.objects.get(task="catalog.refresh_exchange_rates")

    assert task.enabled
    assert (task.interval.every, task.interval.period) == (1, "hours")


def test_regions_from_the_first_seed_get_price_rules_unless_edited_since():
    migration = importlib.import_module(
        "catalog.migrations.0008_seeded_region_price_rules"
    )
    # As the first seed left them: 0004's defaults and no history row.
    Region.objects.bulk_create(
        [
            Region(code="JP", name="Japan", currency="JPY"),
            Region(code="ID", name="Indonesia", currency="IDR"),
        ]
    )
    edited = Region.objects.get(code="ID")
    edited.name = "Indonesia (edited)"
    edited.save()

    migration.forwards(apps, None)

    jp = Region.objects.get(code="JP")
    assert (jp.price_rule, jp.web_discount_percent) == ("whole", Decimal("10"))
    assert Region.objects.get(code="ID").price_rule == "ends_99"

    migration.backwards(apps, None)

    assert Region.objects.get(code="JP").price_rule == "ends_99"
