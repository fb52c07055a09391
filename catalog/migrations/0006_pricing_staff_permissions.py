from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

# Prices are append-only and proposals are the record of re-pricing: no deletes.
PRICING_MODELS = (
    "catalog.CoinBundle",
    "catalog.BundlePrice",
    "catalog.RepricingProposal",
    "catalog.RepricingLine",
    "exchange.Rate",
    "exchange.ExchangeBackend",
)
GRANTS = {
    CATALOG_EDITORS: {model: ("add", "change", "view") for model in PRICING_MODELS},
    FINANCE: {model: VIEW_ONLY for model in PRICING_MODELS},
    SUPPORT: {model: VIEW_ONLY for model in PRICING_MODELS},
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_repricing_proposals"),
        ("exchange", "0001_initial"),
        ("accounts", "0002_staff_roles"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
