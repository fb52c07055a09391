
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from core.admin import (
    ConfirmFormMixin,
    ConfirmPage,
    DecideEachMixin,
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    html_table,
)
from gifting import selectors as gifting_selectors
from gifting import services as gifting_services
from gifting.models import (
    CreatorLevel,
    CreatorProfile,
    GiftSend,
    LevelChange,
)
from wallets.units import diamonds_display

from . import selectors, services
from .models import (
    DiamondCashRate,
    Payout,
    PayoutEvent,
    PayoutMethodChange,
    PayoutRules,
    SandboxPayoutRecord,
)

# Finance reads payout destinations whole; everyone else masked.
DESTINATION_PERMISSION = "gifting.unmask_creatorprofile"


class EligibleFilter(admin.SimpleListFilter):
    title = "may receive gifts"
    parameter_name = "eligible"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        eligible = queryset.eligible_on(timezone.now().date())
        if self.value() == "yes":
            return eligible
        if self.value() == "no":
            return queryset.exclude(id__in=eligible.values("id"))
        return queryset


class PinForm(forms.Form):
    level = forms.ModelChoiceField(queryset=CreatorLevel.objects.all())
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


PIN_PAGE = ConfirmPage(
    title="Pin creators to a level",
    crumb="Pin to a level",
    intro="A pinned creator keeps the level chosen here; the daily recomputation "
    "leaves them alone until they are unpinned.",
    line=lambda creator: f"{creator.display_name} · now {creator.level}",
    submit="Pin {count} creator(s)",
    cancel=False,
)


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
class CreatorProfileAdmin(ConfirmFormMixin, SimpleHistoryAdmin):
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
    # Where the money goes changes only through a confirmed method change.
    readonly_fields = (
        "level",
        "level_pinned",
        "payout_method",
        "destination_full",
        "destination_masked",
        "payout_method_changed_at",
        "change_full",
        "change_masked",
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
                    "destination",
                    "payout_method_changed_at",
                    "change",
                )
            },
        ),
        ("Earnings", {"fields": ("earnings", "recent_gifts", "created_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # Who a creator is never changes: their diamonds and gifts would follow.
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else ("user", *fields)

    def _destination(self, creator, full: bool):
        if not creator.payout_method:
            return "—"
        if not full:
            return selectors.destination_masked(creator.destination)
        if creator.payout_method == CreatorProfile.PayoutMethod.BANK:
            return (
                f"{creator.bank_iban} · {creator.bank_bic} · "
                f"{creator.bank_account_holder}"
            )
        return creator.destination

    def _pending(self, creator, full: bool):
        if creator.pk is None:
            return "—"
        change = selectors.payout_method_pending(creator_ids=[creator.pk]).get(
            creator.pk
        )
        if change is not None:
            destination = change.destination
            return format_html(
                '<a href="{}">Waiting for confirmation: {} to {}</a>, asked {} by {}',
                reverse("admin:payouts_payoutmethodchange_change", args=[change.pk]),
                change.get_payout_method_display(),
                destination if full else selectors.destination_masked(destination),
                f"{change.requested_at:%Y-%m-%d %H:%M}",
                change.requested_by,
            )
        if full:
            return format_html(
                '<a href="{}?creator={}">Ask for a change</a> '
                "(another finance user confirms it)",
                reverse("admin:payouts_payoutmethodchange_add"),
                creator.pk,
            )
        return "None"

    @admin.display(description="Paid to")
    def destination_full(self, creator):
        return self._destination(creator, full=True)

    @admin.display(description="Paid to")
    def destination_masked(self, creator):
        return self._destination(creator, full=False)

    @admin.display(description="Change")
    def change_full(self, creator):
        return self._pending(creator, full=True)

    @admin.display(description="Change")
    def change_masked(self, creator):
        return self._pending(creator, full=False)

    def get_fieldsets(self, request, obj=None):
        # Destinations whole for finance, masked for everyone else.
        suffix = "full" if request.user.has_perm(DESTINATION_PERMISSION) else "masked"
        fieldsets = list(super().get_fieldsets(request, obj))
        name, options = fieldsets[2]
        fields = tuple(
            f"{field}_{suffix}" if field in ("destination", "change") else field
            for field in options["fields"]
        )
        fieldsets[2] = (name, {**options, "fields": fields})
        return fieldsets

    @admin.display(description="Balance and last 30 days")
    def earnings(self, creator):
        if creator.pk is None:
            return "—"
        earned = gifting_selectors.creator_earnings(creator=creator)
        return (
            f"{diamonds_display(earned.diamond_units)} diamonds held · "
            f"{diamonds_display(earned.earned_30d_units)} earned in 30 days · "
            f"{diamonds_display(earned.earned_7d_units)} in 7 days"
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
                diamonds_display(send.creator_diamond_units),
            )
            for send in sends
        ]
        return html_table(
            ("When", "From", "Gift", "Coins", "Diamonds"), rows, empty="No gifts yet."
        )

    def save_model(self, request, obj, form, change):
        if obj.level_id is None:
            obj.level = CreatorLevel.objects.order_by("number").first()
        super().save_model(request, obj, form, change)

    @admin.action(description="Suspend selected creators", permissions=["change"])
    def suspend(self, request, queryset):
        count = gifting_services.creators_set_suspended(
            creators=queryset, suspended=True, actor=request.user
        )
        self.message_user(request, f"Suspended {count} creator(s).", messages.SUCCESS)

    @admin.action(
        description="Lift suspension of selected creators", permissions=["change"]
    )
    def unsuspend(self, request, queryset):
        count = gifting_services.creators_set_suspended(
            creators=queryset, suspended=False, actor=request.user
        )
        self.message_user(request, f"Lifted {count} suspension(s).", messages.SUCCESS)

    @admin.action(description="Pin selected creators to a level", permissions=["pin"])
    def pin_level(self, request, queryset):
        return self.confirm_form(
            request,
            queryset,
            action="pin_level",
            form_class=PinForm,
            page=PIN_PAGE,
            run=lambda data: self._pin_each(request, queryset, **data),
        )

    def _pin_each(self, request, queryset, *, level, reason):
        for creator in queryset:
            gifting_services.creator_level_pin(
                creator=creator, level=level, actor=request.user, reason=reason
            )
        self.message_user(
            request,
            f"Pinned {queryset.count()} creator(s) to {level}.",
            messages.SUCCESS,
        )

    @admin.action(description="Unpin selected creators", permissions=["pin"])
    def unpin_level(self, request, queryset):
        for creator in queryset:
            gifting_services.creator_level_pin(
                creator=creator, level=None, actor=request.user, reason="Unpinned"
            )
        self.message_user(
            request, "Unpinned; the daily recomputation sets their level."
        )

    def has_pin_permission(self, request):
        return request.user.has_perm("gifting.change_creatorlevel")


class PayoutMethodChangeForm(forms.ModelForm):
    class Meta:
        model = PayoutMethodChange
        fields = (
            "creator",
            "payout_method",
            "paypal_email",
            "bank_account_holder",
            "bank_iban",
            "bank_bic",
            "reason",
        )

    def clean_bank_iban(self):
        return self.cleaned_data["bank_iban"].replace(" ", "").upper()


class RefuseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept with the request.",
    )


REFUSE_PAGE = ConfirmPage(
    title="Reject changes",
    crumb="Reject",
    intro="These payout method changes will be rejected with the reason below; the "
    "creators keep their current method.",
    line=lambda change: (
        f"{change.creator} · {change.get_payout_method_display()} · "
        f"{change.get_status_display()}"
    ),
    submit="Reject {count} change(s)",
    cancel=False,
)


@admin.register(PayoutMethodChange)
class PayoutMethodChangeAdmin(DecideEachMixin, admin.ModelAdmin):
    """Four eyes on where money goes: one person asks, another finance user confirms."""

    # What decides a confirmation first: whose, which state, where to, asked by whom.
    list_display = ("creator", "status", "to", "requested_by", "requested_at")
    list_display_links = ("creator",)
    list_filter = ("status", "payout_method")
    list_select_related = ("creator", "requested_by", "decided_by")
    search_fields = ("creator__display_name", "=creator__user__username")
    autocomplete_fields = ("creator",)
    form = PayoutMethodChangeForm
    actions = ("confirm", "refuse")
    readonly_fields = (
        "creator",
        "payout_method",
        "to",
        "status",
        "requested_by",
        "requested_at",
        "reason",
        "decided_by",
        "decided_at",
        "decision_note",
    )

    def get_fields(self, request, obj=None):
        return (
            PayoutMethodChangeForm.Meta.fields if obj is None else self.readonly_fields
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request):
        return {"creator": request.GET.get("creator")}

    # Only finance opens this screen (it reads destinations whole).
    @admin.display(description="To")
    def to(self, change):
        if change.payout_method == CreatorProfile.PayoutMethod.BANK:
            return format_html(
                "Bank {}<br>{} · {}",
                change.bank_iban,
                change.bank_bic,
                change.bank_account_holder,
            )
        return f"PayPal {change.paypal_email}"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = services.payout_method_change_request(
            creator=data["creator"],
            actor=request.user,
            payout_method=data["payout_method"],
            paypal_email=data["paypal_email"],
            bank_account_holder=data["bank_account_holder"],
            bank_iban=data["bank_iban"],
            bank_bic=data["bank_bic"],
            reason=data["reason"],
        )
        obj.pk = created.pk

    def has_change_permission(self, request, obj=None):
        # A request is decided by the actions, never edited.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_confirm_permission(self, request):
        return request.user.has_perm(services.methods.CONFIRM_PERMISSION)

    each_noun = "change"

    def each_name(self, change) -> str:
        return str(change.creator)

    @admin.action(
        description="Confirm selected changes (the cool-off starts)",
        permissions=["confirm"],
    )
    def confirm(self, request, queryset):
        self._each(
            request,
            queryset,
            "Confirmed",
            lambda change: services.payout_method_change_confirm(
                change=change, actor=request.user
            ),
        )

    @admin.action(
        description="Reject selected changes (with one reason)", permissions=["confirm"]
    )
    def refuse(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            action="refuse",
            form_class=RefuseForm,
            page=REFUSE_PAGE,
            verb="Rejected",
            call=lambda change, reason: services.payout_method_change_reject(
                change=change, actor=request.user, reason=reason
            ),
        )


class QueueFilter(admin.SimpleListFilter):
    """Opens on what waits for the signed-in finance user."""

    title = "queue"
    parameter_name = "queue"
    WAITING = "mine"

    def lookups(self, request, model_admin):
        return [
            (self.WAITING, "Waiting for me"),
            ("moving", "Approved or processing"),
            ("failed", "Failed"),
            ("done", "Paid, rejected or returned"),
            ("all", "All"),
        ]

    def value(self):
        return super().value() or self.WAITING

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}
                ),
                "display": title,
            }

    def queryset(self, request, queryset):
        status = Payout.Status
        if self.value() == self.WAITING:
            # A payout waiting for a second approval waits for everyone but the first.
            return queryset.filter(
                Q(status=status.REQUESTED)
                | (
                    Q(status=status.AWAITING_SECOND_APPROVAL)
                    & ~Q(first_approver=request.user)
                )
            ).exclude(requester=request.user)
        groups = {
            "moving": [status.APPROVED, status.PROCESSING],
            "failed": [status.FAILED],
            "done": [status.PAID, status.REJECTED, status.RETURNED],
        }
        if self.value() in groups:
            return queryset.filter(status__in=groups[self.value()])
        return queryset


class CurrencyFilter(admin.SimpleListFilter):
    """The currencies payouts are offered in: the admin's default filter on a plain
    field reads SELECT DISTINCT over every payout on each page."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        currencies = PayoutRules.objects.order_by("currency")
        return [(c, c) for c in currencies.values_list("currency", flat=True)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(currency=self.value())
        return queryset


class PayoutChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        selectors.payouts_risk_attach(self.result_list)


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the creator and kept in the payout's history.",
    )


REJECT_PAGE = ConfirmPage(
    title="Reject payouts",
    crumb="Reject",
    intro="These payouts will be rejected with the reason below; their diamonds go "
    "back to the creators.",
    line=lambda payout: (
        f"{payout.reference} · {payout.creator} · {payout.net_amount} "
        f"{payout.currency} · {payout.get_status_display()}"
    ),
    submit="Reject {count} payout(s)",
    cancel=False,
)


class PayoutEventInline(admin.TabularInline):
    model = PayoutEvent
    fields = ("at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Payout)
class PayoutAdmin(DecideEachMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # What decides an approval first: the state, who, how much, and what looks odd.
    list_display = (
        "reference",
        "status",
        "creator",
        "cash",
        "risk",
        "level",
        "diamonds",
        "earned_30_days",
        "account_age",
        "requested_at",
    )
    list_filter = (QueueFilter, "status", CurrencyFilter)
    list_select_related = ("creator__user", "creator__level")
    search_fields = ("=reference", "creator__display_name", "=creator__user__username")
    ordering = ("requested_at", "id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # Each row reads its creator's 30 days of gifts (the risk column): a page's
    # cost grows with its rows, and finance reviews a payout at a time.
    list_per_page = 50
    actions = ("approve", "reject", "retry", "give_back")
    inlines = (PayoutEventInline,)
    fields = (
        "reference",
        "creator",
        "status",
        "diamonds",
        "cash",
        "rate",
        "gross_amount",
        "fee_amount",
        "net_amount",
        "needs_second_approval",
        "first_approver",
        "second_approver",
        "method",
        "destination",
        "risk",
        "earnings_history",
        "provider_id",
        "failure_reason",
        "requested_at",
    )
    readonly_fields = (*fields, "destination_masked")

    def get_fields(self, request, obj=None):
        if request.user.has_perm(DESTINATION_PERMISSION):
            return self.fields
        return tuple(
            "destination_masked" if f == "destination" else f for f in self.fields
        )

    @admin.display(description="Destination")
    def destination_masked(self, payout):
        return selectors.destination_masked(payout.destination)

    def get_changelist(self, request, **kwargs):
        return PayoutChangeList

    def _risk_inputs(self, payout):
        # The changelist sets them for its whole page; the change page for one.
        if not hasattr(payout, "earned_30_units"):
            selectors.payouts_risk_attach([payout])
        return payout

    @admin.display(description="Level")
    def level(self, payout):
        return payout.creator.level.number

    # Whole diamonds (rounded down) keep the queue's columns narrow.
    @admin.display(description="Diamonds")
    def diamonds(self, payout):
        return diamonds_display(payout.diamond_units, places=0)

    @admin.display(description="Cash", ordering="net_amount")
    def cash(self, payout):
        return f"{payout.net_amount:,} {payout.currency}"

    @admin.display(description="Account age")
    def account_age(self, payout):
        return f"{(timezone.now() - payout.creator.user.date_joined).days} days"

    @admin.display(description="Earned in 30 days")
    def earned_30_days(self, payout):
        payout = self._risk_inputs(payout)
        return diamonds_display(payout.earned_30_units or 0, places=0)

    @admin.display(description="Risk")
    def risk(self, payout):
        payout = self._risk_inputs(payout)
        flags = selectors.payout_risk_flags(
            payout=payout,
            earned_30_units=getattr(payout, "earned_30_units", 0) or 0,
            earned_7_units=getattr(payout, "earned_7_units", 0) or 0,
            top_sender_30_units=getattr(payout, "top_sender_30_units", 0) or 0,
            manual_30_units=getattr(payout, "manual_30_units", 0) or 0,
            cooloff_days=getattr(payout, "cooloff_days", None) or 0,
            method_change_pending=getattr(payout, "method_change_pending", False),
        )
        if not flags:
            return "—"
        return format_html_join(
            " ", '<span class="risk-flag">⚠ {}</span>', ((f,) for f in flags)
        )

    @admin.display(description="Earnings, last 30 days")
    def earnings_history(self, payout):
        rows = gifting_selectors.daily_earnings(creator=payout.creator, days=30)
        return html_table(
            ("Day", "Gifts", "Diamonds"),
            ((day, count, diamonds_display(units)) for day, count, units in rows),
            empty="No gifts in 30 days.",
        )

    def has_approve_permission(self, request):
        return request.user.has_perm("payouts.approve_payout")

    each_noun = "payout"

    def each_name(self, payout) -> str:
        return payout.reference

    @admin.action(description="Approve selected payouts", permissions=["approve"])
    def approve(self, request, queryset):
        self._each(
            request,
            queryset,
            "Approved",
            lambda payout: services.payout_approve(payout=payout, actor=request.user),
        )

    @admin.action(
        description="Reject selected payouts (with one reason)", permissions=["approve"]
    )
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            action="reject",
            form_class=RejectForm,
            page=REJECT_PAGE,
            verb="Rejected",
            call=lambda payout, reason: services.payout_reject(
                payout=payout, actor=request.user, reason=reason
            ),
        )

    @admin.action(description="Retry selected failed payouts", permissions=["approve"])
    def retry(self, request, queryset):
        self._each(
            request,
            queryset,
            "Queued again",
            lambda payout: services.payout_retry(payout=payout, actor=request.user),
        )

    @admin.action(
        description="Return diamonds of selected failed payouts",
        permissions=["approve"],
    )
    def give_back(self, request, queryset):
        self._each(
            request,
            queryset,
            "Returned",
            lambda payout: services.payout_return(payout=payout, actor=request.user),
        )


@admin.register(DiamondCashRate)
class DiamondCashRateAdmin(admin.ModelAdmin):
    list_display = ("currency", "rate", "effective_at", "created_by", "created_at")
    list_filter = ("currency",)
    fields = ("currency", "rate", "effective_at")

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request, obj=None):
        # A new rate is a new row: the old one explains past payouts.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PayoutRules)
class PayoutRulesAdmin(SimpleHistoryAdmin):
    list_display = (
        "currency",
        "minimum_cashout",
        "fee_fixed",
        "fee_percent",
        "daily_maximum",
        "second_approval_from",
        "method_cooloff_days",
    )

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SandboxPayoutRecord)
class SandboxPayoutRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "outcome",
        "amount",
        "currency",
        "times_received",
        "times_paid",
    )
    search_fields = ("=reference",)
