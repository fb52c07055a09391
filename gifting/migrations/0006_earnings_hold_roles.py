from django.db import migrations

from accounts.roles import FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

# Finance sets the hold (a new rule, never an edit) and reads what it recovered;
# support reads both.
GRANTS = {
    FINANCE: {
        "gifting.EarningsHold": ("add", "view"),
        "gifting.HoldRecovery": VIEW_ONLY,
    },
    SUPPORT: {
        "gifting.EarningsHold": VIEW_ONLY,
        "gifting.HoldRecovery": VIEW_ONLY,
    },
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)
    # The models go with the migration before this one: so do their permissions.
    apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label="gifting", model__in=["earningshold", "holdrecovery"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0005_earnings_hold"),
        ("accounts", "0002_staff_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
