from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant

GRANTS = {
    CATALOG_EDITORS: {},
    FINANCE: {"accounts.User": VIEW_ONLY},
    SUPPORT: {"accounts.User": VIEW_ONLY},
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=GRANTS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
