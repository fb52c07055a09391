from django.db import migrations

from accounts.roles import FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

# Support works the creator review queue (decides, never their own); finance sets
# the eligibility rules (a new rule, never an edit). Both read the platform's facts.
GRANTS = {
    SUPPORT: {
        "gifting.CreatorApplication": ("view", "decide"),
        "gifting.EligibilityRule": VIEW_ONLY,
        "gifting.AccountFacts": VIEW_ONLY,
    },
    FINANCE: {
        "gifting.CreatorApplication": VIEW_ONLY,
        "gifting.EligibilityRule": ("add", "view"),
        "gifting.AccountFacts": VIEW_ONLY,
    },
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)
    # The models go with the migration before this one: so do their content types
    # and permissions (the move of gifting out of payouts, unapplied, expects none).
    apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label="gifting",
        model__in=[
            "creatorapplication",
            "historicalcreatorapplication",
            "eligibilityrule",
            "accountfacts",
        ],
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0010_creator_onboarding"),
        ("accounts", "0002_staff_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
