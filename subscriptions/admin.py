"""Subscriptions in the admin: price limits staff set, tiers creators offer,
subscriptions (lapses by status), their charges and the revenue per month, the
refunds of charges (asked for by one, granted by a second finance user) and what
store refunds took back from held charges."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core import display
from core.admin import (
    ConfirmPage,
    DecideEachMixin,
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    column,
    html_table,
    numbered_when,
    truncated,
)
from core.history import ReadableHistoryAdmin

from . import selectors
from .models import (
    ChargeHoldRecovery,
    ChargeRefund,
    Subscription,
    SubscriptionCharge,
    Tier,
    TierPriceLimit,
)
from .services import refunds

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


class RefundReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=refunds.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on each refund: why the subscriber asked, or why it is "
        "rejected.",
    )


def _charge_line(charge: SubscriptionCharge) -> str:
    return (
        f"{charge} · {charge.subscriber} → {charge.creator} · "
        f"{display.coins(charge.coins)} coins · "
        f"charged {display.when(charge.created_at)}"
    )


ASK_REFUND_PAGE = ConfirmPage(
    title="Ask to refund subscription charges",
    crumb="Ask to refund",
    intro="A second finance user grants each refund: the charge's coins go back to "
    "the subscriber and the creator's diamonds from it are taken back. A charge "
    "past its refund window, or already asked for, is refused beside its name.",
    line=_charge_line,
    submit="Ask to refund {count} charge(s)",
)


@admin.register(SubscriptionCharge)
class SubscriptionChargeAdmin(DecideEachMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each period charged (renewals), and the revenue per month; support and
    finance ask for a charge's refund here."""

    actions = ("ask_refund",)
    each_noun = "refund request"

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
        "paid_from",
        "refund_window",
        "refund_state",
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

    def has_ask_refund_permission(self, request):
        return request.user.has_perm(refunds.REQUEST_PERMISSION)

    @admin.action(
        description="Ask to refund selected charges", permissions=["ask_refund"]
    )
    def ask_refund(self, request, queryset):
        return self._with_reason(
            request,
            queryset.select_related("subscriber", "creator__user").order_by("id"),
            action="ask_refund",
            form_class=RefundReasonForm,
            page=ASK_REFUND_PAGE,
            verb="Asked for",
            call=lambda charge, reason: refunds.charge_refund_request(
                charge=charge, actor=request.user, reason=reason
            ),
        )

    @admin.display(description="Paid coins from")
    def paid_from(self, charge):
        rows = [
            (
                format_html(
                    '<a href="{}">Purchase #{}</a>',
                    reverse("admin:wallets_purchase_change", args=[lot.purchase_id]),
                    lot.purchase_id,
                ),
                display.coins(lot.paid_coins),
            )
            for lot in charge.lots.order_by("purchase_id")
        ]
        return html_table(("Purchase", "Paid coins"), rows, empty="No paid coins.")

    @admin.display(description="Refund window ends")
    def refund_window(self, charge):
        return display.when(refunds.charge_refund_window_ends(charge))

    @admin.display(description="Refunds")
    def refund_state(self, charge):
        rows = [
            (
                format_html(
                    '<a href="{}">#{}</a>',
                    reverse("admin:subscriptions_chargerefund_change", args=[r.id]),
                    r.id,
                ),
                r.get_status_display(),
                display.when(r.requested_at),
            )
            for r in charge.refunds.order_by("-requested_at")
        ]
        return html_table(("Refund", "State", "Asked"), rows, empty="None asked for.")

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
                "platform_net": display.diamonds(row["platform_net_units"]),
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


def _refund_line(refund: ChargeRefund) -> str:
    return (
        f"#{refund.id} · {_charge_line(refund.charge)} · asked by "
        f"{refund.requested_by} · {refund.get_status_display()}"
    )


REJECT_REFUNDS_PAGE = ConfirmPage(
    title="Reject subscription refunds",
    crumb="Reject",
    intro="These refunds will be rejected and nothing moves; one already decided "
    "is left as it is.",
    line=_refund_line,
    submit="Reject {count} refund(s)",
)


@admin.register(ChargeRefund)
class ChargeRefundAdmin(DecideEachMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Refunds of subscription charges: asked for from the charges list, granted
    or rejected here by a second finance user."""

    list_display = (
        "when",
        "charge_short",
        "subscriber_short",
        "coins_shown",
        "status",
        "people",
        "short_reason",
    )
    list_filter = ("status",)
    list_select_related = (
        "charge__subscriber",
        "charge__creator",
        "requested_by",
        "decided_by",
    )
    search_fields = (
        "=charge__subscriber__username",
        "charge__creator__display_name",
        "=charge__subscription__id",
    )
    show_full_result_count = False
    actions = ("approve", "reject")
    fields = (
        "charge",
        "status",
        "reason",
        "requested_by",
        "asked_at",
        "window_ends",
        "decided_by",
        "decided",
        "decision_note",
        "bonus_coins",
        "paid_coins",
        "creator_diamonds",
        "platform_diamonds",
    )
    readonly_fields = fields
    each_noun = "refund"

    when = column(
        "requested_at", display.when, description="Asked", ordering="requested_at"
    )
    charge_short = column("charge", description="Charge", width="8em")
    subscriber_short = column(
        "charge.subscriber",
        description="Subscriber",
        ordering="charge__subscriber__username",
        width="9em",
    )
    coins_shown = column("charge.coins", display.coins, description="Coins")
    short_reason = column("reason", description="Reason", width="10em")
    asked_at = column("requested_at", display.when, description="Requested at")
    window_ends = column(
        "window_ends_at", display.when, description="Refund window ends"
    )
    decided = column("decided_at", display.when, description="Decided at")
    creator_diamonds = column(
        "creator_units", display.diamonds, description="Creator's diamonds taken back"
    )
    platform_diamonds = column(
        "platform_units", display.diamonds, description="Platform's share taken back"
    )

    @admin.display(description="Asked / decided by")
    def people(self, refund):
        return format_html(
            "{}<br>{}",
            truncated(refund.requested_by, "9em"),
            truncated(refund.decided_by or "—", "9em"),
        )

    def each_name(self, refund) -> str:
        return f"#{refund.id}"

    def has_approve_permission(self, request):
        return request.user.has_perm(refunds.APPROVE_PERMISSION)

    def has_reject_permission(self, request):
        return self.has_approve_permission(request)

    @admin.action(description="Grant selected refunds", permissions=["approve"])
    def approve(self, request, queryset):
        self._each(
            request,
            queryset.order_by("id"),
            "Granted",
            lambda refund: refunds.charge_refund_approve(
                refund=refund, actor=request.user
            ),
        )

    @admin.action(description="Reject selected refunds", permissions=["reject"])
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset.select_related(
                "charge__subscriber", "charge__creator", "requested_by"
            ).order_by("id"),
            action="reject",
            form_class=RefundReasonForm,
            page=REJECT_REFUNDS_PAGE,
            verb="Rejected",
            call=lambda refund, reason: refunds.charge_refund_reject(
                refund=refund, actor=request.user, reason=reason
            ),
        )


@admin.register(ChargeHoldRecovery)
class ChargeHoldRecoveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each held subscription charge a store refund took diamonds back from."""

    list_display = ("created_at", "purchase", "charge", "paid_coins", "diamonds")
    list_select_related = ("purchase", "charge")
    search_fields = ("=purchase__id", "=charge__subscription__id")
    show_full_result_count = False
    fields = ("purchase", "charge", "paid_coins", "diamonds", "transfer", "created_at")
    readonly_fields = fields

    diamonds = column("diamond_units", display.diamonds, description="Diamonds")
