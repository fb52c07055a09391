from django.db import migrations

from accounts.roles import ALL_ACTIONS, CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

CATALOG_MODELS = ("catalog.Gift", "catalog.GiftPriceChange", "catalog.Region")
GRANTS = {
    CATALOG_EDITORS: {model: ALL_ACTIONS for model in CATALOG_MODELS},
    FINANCE: {model: VIEW_ONLY for model in CATALOG_MODELS},
    SUPPORT: {model: VIEW_ONLY for model in CATALOG_MODELS},
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("accounts", "0002_staff_roles"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
