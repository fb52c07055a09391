"""Staff roles are Django groups; migrations grant each app's permissions to them.

Permissions normally appear only after `migrate` finishes (post_migrate), so the
helpers here create any that are missing, letting a data migration grant them.
"""

CATALOG_EDITORS = "Catalog editors"
FINANCE = "Finance"
SUPPORT = "Support"
ROLES = (CATALOG_EDITORS, FINANCE, SUPPORT)

ALL_ACTIONS = ("add", "change", "delete", "view")
VIEW_ONLY = ("view",)


def _permissions(apps, model_label: str, actions):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    model = apps.get_model(model_label)
    content_type, _ = ContentType.objects.get_or_create(
        app_label=model._meta.app_label, model=model._meta.model_name
    )
    permissions = []
    for action in actions:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type,
            codename=f"{action}_{model._meta.model_name}",
            defaults={"name": f"Can {action} {model._meta.verbose_name_raw}"},
        )
        permissions.append(permission)
    return permissions


def grant(apps, grants: dict[str, dict[str, tuple[str, ...]]]) -> None:
    """grants: {group name: {"app_label.Model": ("view", ...)}}; creates the groups."""
    Group = apps.get_model("auth", "Group")
    for group_name, models in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for model_label, actions in models.items():
            group.permissions.add(*_permissions(apps, model_label, actions))


def revoke(apps, grants: dict[str, dict[str, tuple[str, ...]]]) -> None:
    Group = apps.get_model("auth", "Group")
    for group_name, models in grants.items():
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            continue
        for model_label, actions in models.items():
            group.permissions.remove(*_permissions(apps, model_label, actions))
