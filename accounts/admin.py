from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import ServiceToken, User
from .services import service_tokens_revoke


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "birth_date",
        "is_staff",
        "date_joined",
    )
    fieldsets = DjangoUserAdmin.fieldsets + (
        (_("Age"), {"fields": ("birth_date",)}),
        (_("Public profile"), {"fields": ("public_name",)}),
    )


class OperatorsChangeSchedules:
    """Beat's schedules decide whether payouts go out and old results are cleaned:
    operators (superusers) change them, other staff with the view grant read them.

    django-celery-beat's own actions (enable, disable, toggle, run) ask for no
    permission, so a read-only role could switch off "Send approved payouts".
    """

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def get_actions(self, request):
        if not self.has_change_permission(request):
            return {}
        return super().get_actions(request)


def _operators_only(model, model_admin):
    admin.site.unregister(model)
    admin.site.register(
        model,
        type(model_admin.__name__, (OperatorsChangeSchedules, model_admin), {}),
    )


for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "django_celery_beat":
        _operators_only(_model, type(_model_admin))


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):
    """Other services' keys: made by `manage.py service_token_create` (the key is
    printed once), revoked here; never edited or deleted (requests name them)."""

    list_display = ("name", "scope", "key_prefix", "created_at", "revoked_at")
    list_filter = ("scope",)
    readonly_fields = (
        "name",
        "scope",
        "key_prefix",
        "created_by",
        "created_at",
        "revoked_at",
    )
    actions = ("revoke",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    @admin.action(description="Revoke selected service tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = service_tokens_revoke(tokens=queryset)
        self.message_user(
            request, f"Revoked {revoked} service token(s).", messages.SUCCESS
        )
