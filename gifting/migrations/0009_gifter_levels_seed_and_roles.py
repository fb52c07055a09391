from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

# Catalog editors shape the product's levels (no money moves by them); finance and
# support read them.
GRANTS = {
    CATALOG_EDITORS: {"gifting.GifterLevel": ("change", "view")},
    FINANCE: {"gifting.GifterLevel": VIEW_ONLY},
    SUPPORT: {"gifting.GifterLevel": VIEW_ONLY},
}


def seed_curve(number: int) -> int:
    """Level 1 needs nothing; then 5·(n-1)^3.5 coins: 5 for level 2, about 11,000
    for level 10, 4.1 million for level 50 (a steep curve, as TikTok's)."""
    return round(5 * (number - 1) ** 3.5)


def forwards(apps, schema_editor):
    GifterLevel = apps.get_model("gifting", "GifterLevel")
    GifterLevel.objects.bulk_create(
        GifterLevel(number=number, coins_needed=seed_curve(number))
        for number in range(1, 51)
    )
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)
    apps.get_model("gifting", "GifterLevel").objects.all().delete()
    # The models go with the migration before this one: so do their permissions.
    apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label="gifting",
        model__in=["gifterlevel", "historicalgifterlevel", "giftertotal"],
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0008_leaderboards_per_creator_gifter_levels"),
        ("accounts", "0002_staff_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
