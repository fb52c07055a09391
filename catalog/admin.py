from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .models import Gift, GiftPriceChange, Region
from .resources import GiftResource


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "currency", "is_active")
    list_filter = ("is_active", "currency")
    search_fields = ("code", "name")
    ordering = ("code",)


class LiveNowFilter(admin.SimpleListFilter):
    title = "live now"
    parameter_name = "live"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        live = Gift.objects.available_at(timezone.now()).values("id")
        if self.value() == "yes":
            return queryset.filter(id__in=live)
        if self.value() == "no":
            return queryset.exclude(id__in=live)
        return queryset


class SponsoredFilter(admin.SimpleListFilter):
    title = "sponsored"
    parameter_name = "sponsored"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(sponsor_name="")
        if self.value() == "no":
            return queryset.filter(sponsor_name="")
        return queryset


class OfferedInRegionFilter(admin.SimpleListFilter):
    title = "offered in region"
    parameter_name = "region"

    def lookups(self, request, model_admin):
        return list(Region.objects.values_list("code", "name"))

    def queryset(self, request, queryset):
        if self.value():
            region = Region.objects.filter(code=self.value()).first()
            return queryset.offered_in(region) if region else queryset.none()
        return queryset


class PendingPriceChangeInline(admin.TabularInline):
    model = GiftPriceChange
    verbose_name = "scheduled price change"
    verbose_name_plural = "Scheduled price changes (not live yet)"
    fields = ("coin_price", "effective_at", "created_by")
    readonly_fields = ("created_by",)
    extra = 1

    def get_queryset(self, request):
        return super().get_queryset(request).filter(applied_at__isnull=True)


class AppliedPriceChangeInline(admin.TabularInline):
    model = GiftPriceChange
    verbose_name = "applied price change"
    verbose_name_plural = "Scheduled price changes that went live"
    fields = ("coin_price", "effective_at", "applied_at", "created_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-effective_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(applied_at__isnull=False)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Gift)
class GiftAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = [GiftResource]
    list_display = (
        "icon_preview",
        "name",
        "coin_price",
        "category",
        "placement",
        "is_active",
        "window",
        "live_now",
        "sponsored",
    )
    list_display_links = ("name",)
    list_editable = ("coin_price",)
    list_filter = (
        "is_active",
        "category",
        OfferedInRegionFilter,
        SponsoredFilter,
        LiveNowFilter,
        "placement",
    )
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("regions",)
    readonly_fields = ("created_at", "updated_at")
    actions = ("activate", "deactivate")
    inlines = (PendingPriceChangeInline, AppliedPriceChangeInline)
    history_list_display = (
        "coin_price",
        "is_active",
        "available_from",
        "available_until",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "coin_price",
                    "category",
                    "sort_order",
                    "is_active",
                )
            },
        ),
        ("Artwork", {"fields": ("icon", "animation", "sound", "description")}),
        (
            "Availability",
            {"fields": ("available_from", "available_until", "placement", "regions")},
        ),
        (
            "Sponsor",
            {
                "fields": ("sponsor_name", "sponsor_starts_at", "sponsor_ends_at"),
                "classes": ("collapse",),
            },
        ),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Icon")
    def icon_preview(self, gift):
        if not gift.icon:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" width="32" height="32" style="object-fit:contain">',
            gift.icon.url,
            gift.name,
        )

    @admin.display(description="Window")
    def window(self, gift):
        if not gift.available_from and not gift.available_until:
            return "always"
        start = f"{gift.available_from:%Y-%m-%d %H:%M}" if gift.available_from else "…"
        end = f"{gift.available_until:%Y-%m-%d %H:%M}" if gift.available_until else "…"
        return f"{start} – {end}"

    @admin.display(description="Live now", boolean=True)
    def live_now(self, gift):
        return gift.is_available_at(timezone.now())

    @admin.display(description="Sponsored", boolean=True, ordering="sponsor_name")
    def sponsored(self, gift):
        return bool(gift.sponsor_name)

    def save_formset(self, request, form, formset, change):
        for change_form in formset.forms:
            instance = change_form.instance
            if isinstance(instance, GiftPriceChange) and instance.pk is None:
                instance.created_by = request.user
        super().save_formset(request, form, formset, change)

    @admin.action(description="Activate selected gifts", permissions=["change"])
    def activate(self, request, queryset):
        count = services.gifts_set_active(
            gifts=queryset, is_active=True, actor=request.user
        )
        self.message_user(request, f"Activated {count} gift(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected gifts", permissions=["change"])
    def deactivate(self, request, queryset):
        count = services.gifts_set_active(
            gifts=queryset, is_active=False, actor=request.user
        )
        self.message_user(request, f"Deactivated {count} gift(s).", messages.SUCCESS)


@admin.register(GiftPriceChange)
class GiftPriceChangeAdmin(admin.ModelAdmin):
    list_display = (
        "gift",
        "coin_price",
        "effective_at",
        "status",
        "created_by",
        "applied_at",
    )
    list_filter = (("applied_at", admin.EmptyFieldListFilter),)
    list_select_related = ("gift", "created_by")
    search_fields = ("gift__name", "gift__slug")
    autocomplete_fields = ("gift",)
    fields = ("gift", "coin_price", "effective_at")
    date_hierarchy = "effective_at"
    actions = None

    @admin.display(description="Status")
    def status(self, change):
        return "live" if change.is_applied else "pending"

    def save_model(self, request, obj, form, change):
        if obj.pk is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request, obj=None):
        # A scheduled change is replaced (cancel and schedule anew), not edited.
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_applied:
            return False
        return super().has_delete_permission(request, obj)
