"""Subscriptions in the admin: price limits staff set, tiers creators offer,
subscriptions (lapses by status), their charges and the revenue per month."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core import display
from core.admin import (
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    column,
    numbered_when,
)
from core.history import ReadableHistoryAdmin

from . import selectors
from .models import Subscription, SubscriptionCharge, Tier, TierPriceLimit

# Finance's (granted by migration 0003): the revenue per month and the subscribers'
# request keys; support reads subscriptions and charges without them.
REVENUE_PERMISSION = "subscriptions.revenue_subscription"


@admin.register(TierPriceLimit)
class TierPriceLimitAdmin(ReadableHistoryAdmin):
    """The coin price a creator's tier of each rank may have; history kept."""

    list_display = ("rank", "name", "min_shown", "max_shown", "tiers_count")
    fields = ("rank", "name", "min_coins", "max_coins")
    ordering = ("rank",)

    min_shown = column("min_coins", display.coins, description="Lowest price")
    max_shown = column("max_coins", display.coins, description="Highest price")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(tiers_count=Count("tiers"))

    @admin.display(description="Tiers offered", ordering="tiers_count")
    def tiers_count(self, limit):
        return display.number(limit.tiers_count)

    def has_delete_permission(self, request, obj=None):
        # Tiers refer to their limits: a rank stays, its range changes.
        return False


@admin.register(Tier)
class TierAdmin(ReadOnlyAdminMixin, ReadableHistoryAdmin):
    """Tiers creators offer (they set them through the API)."""

    list_display = (
        "creator_short",
        "rank",
        "name_short",
        "price",
        "is_active",
        "subscribers",
    )
    list_filter = ("is_active", "limit")
    list_select_related = ("creator", "limit")
    search_fields = ("creator__display_name", "=creator__user__username")
    fields = ("creator", "limit", "name", "coin_price", "is_active", "created_at")
    readonly_fields = fields

    creator_short = column(
        "creator", description="Creator", ordering="creator__display_name", width="12em"
    )
    name_short = column("name", description="Name", width="12em")
    rank = column("limit.rank", description="Rank", ordering="limit__rank")
    price = column(
        "coin_price", display.coins, description="Price", ordering="coin_price"
    )

    def get_queryset(self, request):
        live = Q(subscriptions__status__in=Subscription.LIVE)
        return (
            super()
            .get_queryset(request)
            .annotate(live_count=Count("subscriptions", filter=live))
        )

    @admin.display(description="Subscribers", ordering="live_count")
    def subscribers(self, tier):
        url = reverse("admin:subscriptions_subscription_changelist")
        return format_html(
            '<a href="{}?tier__id__exact={}&amp;status__in=active,grace">{}</a>',
            url,
            tier.id,
            display.number(tier.live_count),
        )


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, ReadableHistoryAdmin):
    """Subscriptions per creator (search by creator); lapses: filter the status."""

    list_display = (
        "when",
        "subscriber_short",
        "creator_short",
        "tier_short",
        "status",
        "paid_until",
        "notice_short",
    )
    list_filter = ("status",)
    list_select_related = ("subscriber", "creator", "tier")
    search_fields = ("creator__display_name", "=subscriber__username", "=id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        "subscriber",
        "creator",
        "tier",
        "coin_price",
        "status",
        "period",
        "period_starts_at",
        "period_ends_at",
        "next_charge_at",
        "renewal_queued_at",
        "grace_until",
        "cancelled_at",
        "ended_at",
        "notice",
        "created_at",
        "idempotency_key",
    )
    readonly_fields = fields

    subscriber_short = column(
        "subscriber",
        description="Subscriber",
        ordering="subscriber__username",
        width="9em",
    )
    creator_short = column(
        "creator", description="Creator", ordering="creator__display_name", width="10em"
    )
    tier_short = column("tier.name", description="Tier", width="8em")
    notice_short = column("notice", description="Notice", width="10em")
    paid_until = column(
        "period_ends_at",
        display.when,
        description="Paid until",
        ordering="period_ends_at",
    )

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if request.user.has_perm(REVENUE_PERMISSION):
            return fields
        return [f for f in fields if f != "idempotency_key"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Subscription, since", ordering="created_at")
    def when(self, subscription):
        return numbered_when(subscription, subscription.created_at)


@admin.register(SubscriptionCharge)
class SubscriptionChargeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each period charged (renewals), and the revenue per month."""

    change_list_template = "admin/subscriptions/subscriptioncharge/change_list.html"
    list_display = (
        "when",
        "subscriber_short",
        "creator_short",
        "period",
        "coins_shown",
        "share_percent",
        "creator_diamonds",
        "platform_diamonds",
    )
    list_filter = (("created_at", admin.DateFieldListFilter),)
    list_select_related = ("subscriber", "creator")
    search_fields = (
        "creator__display_name",
        "=subscriber__username",
        "=subscription__id",
    )
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        "subscription",
        "period",
        "subscriber",
        "creator",
        "tier",
        "coins",
        "bonus_coins",
        "paid_coins",
        "share_percent",
        "creator_diamonds",
        "platform_diamonds",
        "period_starts_at",
        "period_ends_at",
        "created_at",
    )
    readonly_fields = fields

    subscriber_short = column(
        "subscriber",
        description="Subscriber",
        ordering="subscriber__username",
        width="9em",
    )
    creator_short = column(
        "creator", description="Creator", ordering="creator__display_name", width="10em"
    )
    coins_shown = column("coins", display.coins, description="Coins", ordering="coins")
    creator_diamonds = column(
        "creator_diamond_units", display.diamonds, description="Creator diamonds"
    )
    platform_diamonds = column(
        "platform_diamond_units", display.diamonds, description="Platform diamonds"
    )

    @admin.display(description="Charge, when", ordering="created_at")
    def when(self, charge):
        return numbered_when(charge, charge.created_at)

    def get_urls(self):
        revenue = self.admin_site.admin_view(self.revenue_view)
        return [
            path("revenue/", revenue, name="subscriptions_subscriptioncharge_revenue"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "may_read_revenue": request.user.has_perm(REVENUE_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def revenue_view(self, request):
        if not request.user.has_perm(REVENUE_PERMISSION):
            raise PermissionDenied
        months = [
            {
                **row,
                "month": row["month"].strftime("%Y-%m"),
                "creator_diamonds": display.diamonds(row["creator_diamond_units"]),
                "platform_diamonds": display.diamonds(row["platform_diamond_units"]),
            }
            for row in selectors.revenue_by_month()
        ]
        return TemplateResponse(
            request,
            "admin/subscriptions/subscriptioncharge/revenue.html",
            {
                **self.admin_site.each_context(request),
                "title": "Subscription revenue per month",
                "opts": self.model._meta,
                "months": months,
            },
        )
