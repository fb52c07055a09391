from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from accounts.admin_mixins import ReadOnlyAdminMixin
from accounts.models import ADULT_AGE

from . import selectors, services
from .models import (
    MIN_FOLLOWERS_TO_RECEIVE,
    CreatorLevel,
    CreatorProfile,
    GiftSend,
    LevelChange,
)


class EligibleFilter(admin.SimpleListFilter):
    title = "may receive gifts"
    parameter_name = "eligible"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        today = timezone.now().date()
        adult_born_by = today.replace(year=today.year - ADULT_AGE)
        eligible = Q(
            suspended=False,
            gifts_enabled=True,
            follower_count__gte=MIN_FOLLOWERS_TO_RECEIVE,
            user__birth_date__lte=adult_born_by,
        )
        if self.value() == "yes":
            return queryset.filter(eligible)
        if self.value() == "no":
            return queryset.exclude(eligible)
        return queryset


class PinForm(forms.Form):
    level = forms.ModelChoiceField(queryset=CreatorLevel.objects.all())
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class LevelChangeInline(admin.TabularInline):
    model = LevelChange
    fk_name = "creator"
    fields = (
        "changed_at",
        "from_level",
        "to_level",
        "diamonds_30d",
        "reason",
        "changed_by",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-changed_at",)


@admin.register(CreatorProfile)
class CreatorProfileAdmin(SimpleHistoryAdmin):
    list_display = (
        "display_name",
        "user",
        "level",
        "level_pinned",
        "follower_count",
        "verification",
        "gifts_enabled",
        "suspended",
    )
    list_filter = ("level", EligibleFilter, "verification", "suspended", "level_pinned")
    list_select_related = ("user", "level")
    search_fields = ("display_name", "=user__username", "user__email")
    autocomplete_fields = ("user",)
    readonly_fields = (
        "level",
        "level_pinned",
        "earnings",
        "recent_gifts",
        "created_at",
    )
    actions = ("suspend", "unsuspend", "pin_level", "unpin_level")
    inlines = (LevelChangeInline,)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("user", "display_name", "follower_count", "verification")}),
        ("Gifts", {"fields": ("gifts_enabled", "suspended", "level", "level_pinned")}),
        (
            "Payout method",
            {
                "fields": (
                    "payout_method",
                    "paypal_email",
                    "bank_account_holder",
                    "bank_iban",
                    "bank_bic",
                )
            },
        ),
        ("Earnings", {"fields": ("earnings", "recent_gifts", "created_at")}),
    )

    @admin.display(description="Balance and last 30 days")
    def earnings(self, creator):
        if creator.pk is None:
            return "—"
        earned = selectors.creator_earnings(creator=creator)
        return (
            f"{selectors.diamonds(earned.diamond_units):.4f} diamonds held · "
            f"{selectors.diamonds(earned.earned_30d_units):.4f} earned in 30 days · "
            f"{selectors.diamonds(earned.earned_7d_units):.4f} in 7 days"
        )

    @admin.display(description="Last 20 gifts")
    def recent_gifts(self, creator):
        if creator.pk is None:
            return "—"
        sends = GiftSend.objects.filter(creator=creator).select_related(
            "gift", "sender"
        )[:20]
        rows = [
            (
                f"{send.created_at:%Y-%m-%d %H:%M}",
                send.sender.username,
                f"{send.quantity} × {send.gift.name}",
                send.coins,
                f"{selectors.diamonds(send.creator_diamond_units):.4f}",
            )
            for send in sends
        ]
        if not rows:
            return "No gifts yet."
        return format_html(
            "<table><tr><th>When</th><th>From</th><th>Gift</th><th>Coins</th>"
            "<th>Diamonds</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rows,
            ),
        )

    def save_model(self, request, obj, form, change):
        if "payout_method" in form.changed_data or any(
            field in form.changed_data for field in ("paypal_email", "bank_iban")
        ):
            obj.payout_method_changed_at = timezone.now()
        if obj.level_id is None:
            obj.level = CreatorLevel.objects.order_by("number").first()
        super().save_model(request, obj, form, change)

    @admin.action(description="Suspend selected creators", permissions=["change"])
    def suspend(self, request, queryset):
        count = services.creators_set_suspended(
            creators=queryset, suspended=True, actor=request.user
        )
        self.message_user(request, f"Suspended {count} creator(s).", messages.SUCCESS)

    @admin.action(
        description="Lift suspension of selected creators", permissions=["change"]
    )
    def unsuspend(self, request, queryset):
        count = services.creators_set_suspended(
            creators=queryset, suspended=False, actor=request.user
        )
        self.message_user(request, f"Lifted {count} suspension(s).", messages.SUCCESS)

    @admin.action(description="Pin selected creators to a level", permissions=["pin"])
    def pin_level(self, request, queryset):
        form = PinForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for creator in queryset:
                services.creator_level_pin(
                    creator=creator,
                    level=form.cleaned_data["level"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            level = form.cleaned_data["level"]
            self.message_user(
                request,
                f"Pinned {queryset.count()} creator(s) to {level}.",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/payouts/creatorprofile/pin.html",
            {
                **self.admin_site.each_context(request),
                "title": "Pin creators to a level",
                "opts": self.model._meta,
                "creators": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Unpin selected creators", permissions=["pin"])
    def unpin_level(self, request, queryset):
        for creator in queryset:
            services.creator_level_pin(
                creator=creator, level=None, actor=request.user, reason="Unpinned"
            )
        self.message_user(
            request, "Unpinned; the daily recomputation sets their level."
        )

    def has_pin_permission(self, request):
        return request.user.has_perm("payouts.change_creatorlevel")


@admin.register(CreatorLevel)
class CreatorLevelAdmin(SimpleHistoryAdmin):
    list_display = ("number", "name", "min_diamonds_30d", "share_percent")
    list_editable = ("min_diamonds_30d", "share_percent")
    ordering = ("number",)

    def has_delete_permission(self, request, obj=None):
        # Creators and past gift sends point at levels; retire a level by editing it.
        return False


@admin.register(GiftSend)
class GiftSendAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "sender",
        "creator",
        "gift",
        "quantity",
        "coins",
        "share_percent",
        "creator_diamonds",
        "stream_id",
    )
    list_filter = ("gift", "placement", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("sender", "creator", "gift")
    search_fields = (
        "=stream_id",
        "=video_id",
        "=sender__username",
        "creator__display_name",
    )
    show_full_result_count = False

    @admin.display(description="Creator diamonds")
    def creator_diamonds(self, send):
        return f"{selectors.diamonds(send.creator_diamond_units):.4f}"
