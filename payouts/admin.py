import copy
import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core import display as figures
from core.admin import (
    ConfirmFormMixin,
    ConfirmPage,
    DecideEachMixin,
    EstimatedCountPaginator,
    ListExportMixin,
    OpensOnFilter,
    ReadOnlyAdminMixin,
    UnfilterableFieldsMixin,
    column,
    html_table,
)
from core.errors import ServiceError
from core.exports import Column
from core.history import HistoryAdmin
from gifting import selectors as gifting_selectors
from gifting import services as gifting_services
from gifting.models import (
    PAYOUT_DESTINATION_FIELDS,
    CreatorLevel,
    CreatorProfile,
    GiftSend,
    LevelChange,
)
from wallets.units import diamonds_from_units

from . import selectors, services, states
from .forms import DECISIONS, ApproveForm, BulkApproveForm, BulkRejectForm
from .models import (
    APPROVE_PERMISSION,
    DiamondCashRate,
    Payout,
    PayoutMethodChange,
    PayoutRules,
    SandboxPayoutRecord,
)

# Finance reads payout destinations whole; everyone else masked.
DESTINATION_PERMISSION = "gifting.unmask_creatorprofile"
# Nobody filters on a destination from the address: `?destination__startswith=`
# would tell a masked reader the whole of it, a row at a time.
CREATOR_DESTINATION_LOOKUPS = tuple(
    f"creator__{field}" for field in PAYOUT_DESTINATION_FIELDS
)


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
        "earned_30d",
        "reason",
        "changed_by",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-changed_at",)

    @admin.display(description="Diamonds in 30 days")
    def earned_30d(self, change):
        # Whole diamonds, as level thresholds count them.
        return figures.number(change.diamonds_30d)


@admin.register(CreatorProfile)
class CreatorProfileAdmin(UnfilterableFieldsMixin, ConfirmFormMixin, HistoryAdmin):
    unfilterable_fields = (
        *PAYOUT_DESTINATION_FIELDS,
        "payouts__destination",
        *(f"method_changes__{field}" for field in PAYOUT_DESTINATION_FIELDS),
    )
    # Who, at which level and whether they may receive gifts fit beside the menu
    # and filters; long names are cut (whole on hover and on the creator's page).
    list_display = (
        "name_short",
        "user_short",
        "level_shown",
        "followers",
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
        "followers_reported",
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
        (
            None,
            {"fields": ("user", "display_name", "followers_reported", "verification")},
        ),
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

    name_short = column(
        "display_name",
        description="Display name",
        ordering="display_name",
        width="12em",
    )

    user_short = column(
        "user", description="User", ordering="user__username", width="9em"
    )

    @admin.display(description="Level", ordering="level__number")
    def level_shown(self, creator):
        pinned = " · pinned" if creator.level_pinned else ""
        return format_html(
            '<span title="{}">{} {}{}</span>',
            creator.level,
            creator.level.number,
            creator.level.name,
            pinned,
        )

    followers = column(
        "follower_count",
        figures.number,
        description="Followers",
        ordering="follower_count",
    )

    @admin.display(description="Followers")
    def followers_reported(self, creator):
        # Reported by the platform (the account facts endpoint), never typed here.
        facts = getattr(creator.user, "account_facts", None) if creator.pk else None
        if facts is None:
            return f"{figures.number(creator.follower_count)} (not reported yet)"
        return (
            f"{figures.number(creator.follower_count)} as of "
            f"{figures.when(facts.as_of)}, reported by the platform"
        )

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
        on_hold = ""
        if earned.hold.on_hold_units:
            on_hold = (
                f" ({figures.diamonds(earned.hold.on_hold_units)} on the earnings "
                f"hold, the first free on {earned.hold.frees[0][0]:%Y-%m-%d})"
            )
        return (
            f"{figures.diamonds(earned.diamond_units)} diamonds held{on_hold} · "
            f"{figures.diamonds(earned.earned_30d_units)} earned in 30 days · "
            f"{figures.diamonds(earned.earned_7d_units)} in 7 days"
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
                figures.when(send.created_at),
                send.sender.username,
                f"{figures.coins(send.quantity)} × {send.gift.name}",
                figures.coins(send.coins),
                figures.diamonds(send.creator_diamond_units),
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
class PayoutMethodChangeAdmin(
    UnfilterableFieldsMixin, DecideEachMixin, admin.ModelAdmin
):
    """Four eyes on where money goes: one person asks, another finance user confirms."""

    unfilterable_fields = (*PAYOUT_DESTINATION_FIELDS, *CREATOR_DESTINATION_LOOKUPS)

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


class QueueFilter(OpensOnFilter):
    """Opens on what waits for the signed-in finance user."""

    title = "queue"
    parameter_name = "queue"
    WAITING = default = "mine"
    SECOND = "second"

    def lookups(self, request, model_admin):
        return [
            (self.WAITING, "To decide"),
            (self.SECOND, "Waiting for you: second approvals"),
            ("moving", "Approved or processing"),
            ("failed", "Failed"),
            ("done", "Paid, rejected or returned"),
            ("all", "All"),
        ]

    def queryset(self, request, queryset):
        status = Payout.Status
        if self.value() == self.WAITING:
            return selectors.payouts_waiting_for(queryset, user=request.user)
        if self.value() == self.SECOND:
            return selectors.payouts_second_approval_for(queryset, user=request.user)
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
    """The queue's page, with each row's risk flags and the totals above it."""

    def get_results(self, request):
        super().get_results(request)
        selectors.payouts_risk_attach(self.result_list)
        for payout in self.result_list:
            payout.flags = selectors.payout_flags(payout)
            payout.yours_to_finish = (
                payout.status == Payout.Status.AWAITING_SECOND_APPROVAL
                and services.approval_refusal(payout=payout, actor=request.user) is None
            )
        everyone = Payout.objects.all()
        # queue.js writes the selected rows' total in the locale the page uses.
        self.language_tag = figures.language_tag()
        self.totals = [
            (
                "On this page",
                totals_text(selectors.payouts_totals(self.result_list)),
                None,
            ),
            (
                "Waiting for a decision",
                totals_text(
                    selectors.payouts_totals_of(
                        selectors.payouts_waiting_for(everyone, user=request.user)
                    )
                ),
                f"?{QueueFilter.parameter_name}={QueueFilter.WAITING}",
            ),
        ]
        if request.user.has_perm(APPROVE_PERMISSION):
            self.totals.append(
                (
                    "Second approvals waiting for you",
                    totals_text(
                        selectors.payouts_totals_of(
                            selectors.payouts_second_approval_for(
                                everyone, user=request.user
                            )
                        )
                    ),
                    f"?{QueueFilter.parameter_name}={QueueFilter.SECOND}",
                )
            )


def totals_text(totals, *, counted: bool = True) -> str:
    """Per currency: "2 payout(s) · net $1,484.75 (gross $1,500.00, fee $15.25)"."""
    if not totals:
        return "none"

    def cash(amount, total):
        return figures.money_in(amount, total.currency)

    return "; ".join(
        f"{f'{total.count} payout(s) · ' if counted else ''}"
        f"net {cash(total.net, total)} (gross {cash(total.gross, total)}, "
        f"fee {cash(total.fee, total)})"
        for total in totals
    )


def _cell(text: str, css: str):
    """A cell cut to its column's width by the stylesheet, the whole text on hover."""
    return format_html('<span class="{}" title="{}">{}</span>', css, text, text)


REJECT_PAGE = ConfirmPage(
    title="Reject payouts",
    crumb="Reject",
    intro="These payouts will be rejected with the reason below; their diamonds go "
    "back to the creators.",
    line=lambda payout: (
        f"{payout.reference} · {payout.creator} · "
        f"{figures.money_in(payout.net_amount, payout.currency)} · "
        f"{payout.get_status_display()}"
    ),
    submit="Reject {count} payout(s)",
    cancel=False,
)

FIRST_APPROVAL = "First approval recorded; a second finance user must approve."
APPROVED = "Approved and queued for payment."


def held_message(payout, until) -> str:
    return (
        f"Approved; held until {until:%Y-%m-%d %H:%M} UTC: the payout method changed "
        f"{payout.method_changed_at:%Y-%m-%d %H:%M} UTC and payouts to it wait out "
        "the cool-off. It is queued for payment then."
    )


def approval_message(payout) -> str:
    """What an approval did: a first approval, an approval, or one held by a
    recent change of payout method (and until when)."""
    if payout.status == Payout.Status.AWAITING_SECOND_APPROVAL:
        return FIRST_APPROVAL
    until = selectors.payout_hold_ends(payout)
    return held_message(payout, until) if until else APPROVED


# The timeline's words for each step: (from, to) first, then by the state reached.
STEP_WORDS = {
    ("", Payout.Status.REQUESTED): "Requested",
    (Payout.Status.REQUESTED, Payout.Status.AWAITING_SECOND_APPROVAL): (
        "First approval (a second is needed)"
    ),
    (Payout.Status.AWAITING_SECOND_APPROVAL, Payout.Status.APPROVED): (
        "Second approval: approved"
    ),
    (Payout.Status.FAILED, Payout.Status.APPROVED): "Retried",
    Payout.Status.APPROVED: "Approved",
    Payout.Status.PROCESSING: "Sent to the payout provider",
    Payout.Status.PAID: "Paid",
    Payout.Status.FAILED: "Failed",
    Payout.Status.REJECTED: "Rejected",
    Payout.Status.RETURNED: "Diamonds returned to the creator",
}


@admin.register(Payout)
class PayoutAdmin(
    UnfilterableFieldsMixin,
    ListExportMixin,
    DecideEachMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    """The approval queue, and the payout's page where it is decided: the page
    posts each decision to a service; the services hold every rule."""

    unfilterable_fields = ("destination", *CREATOR_DESTINATION_LOOKUPS)

    # Finance's file of the queue as filtered: the destination masked, always.
    export_permission = "payouts.export_payout"
    export_columns = (
        Column("id", "id"),
        Column("reference", "reference"),
        Column("creator", "creator.display_name"),
        Column("creator username", "creator.user.username"),
        Column("diamonds", "diamond_units", diamonds_from_units),
        Column("gross", "gross_amount"),
        Column("fee", "fee_amount"),
        Column("net", "net_amount"),
        Column("currency", "currency"),
        Column("rate (cash a diamond)", "rate"),
        Column("status", lambda payout: payout.get_status_display()),
        Column("method", lambda payout: payout.get_method_display()),
        Column("destination (masked)", "destination", selectors.destination_masked),
        Column("requested at (UTC)", "requested_at"),
        Column("approved at (UTC)", "approved_at"),
        Column("paid at (UTC)", "paid_at"),
        Column("first approver", "first_approver.username"),
        Column("second approver", "second_approver.username"),
        Column("provider id", "provider_id"),
        Column("failure reason", "failure_reason"),
    )

    def export_queryset(self, request, queryset):
        return selectors.payouts_for_export(queryset)

    # What decides an approval first: who, which state, how much, what looks odd,
    # in 1280 px beside the navigation. Oldest first; when it was asked, level,
    # account age and 30 days' earnings are on the payout's page.
    list_display = (
        "ref",
        "state",
        "payee",
        "gross",
        "fee",
        "net",
        "risk",
        "diamonds",
    )
    list_filter = (QueueFilter, "status", CurrencyFilter)
    list_select_related = ("creator__user", "creator__level", "first_approver")
    search_fields = ("=reference", "creator__display_name", "=creator__user__username")
    ordering = ("requested_at", "id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # Each row reads its creator's 30 days of gifts (the risk column): a page's
    # cost grows with its rows, and finance reviews a payout at a time.
    list_per_page = 50
    actions = ("approve", "reject", "retry", "give_back")
    fieldsets = (
        (
            "Creator and destination",
            {
                "fields": (
                    "creator_link",
                    "level",
                    "account_age",
                    "method",
                    "destination",
                    "method_changed",
                )
            },
        ),
        (
            "Payment",
            {
                "fields": (
                    "reference",
                    "requested",
                    "provider_id",
                    "failure_reason",
                )
            },
        ),
        ("Timeline", {"fields": ("timeline",)}),
        ("Creator's recent earnings", {"fields": ("earnings", "earnings_history")}),
        ("Creator's recent payouts", {"fields": ("recent_payouts",)}),
    )
    readonly_fields = (
        "creator_link",
        "level",
        "account_age",
        "method",
        "destination",
        "destination_masked",
        "method_changed",
        "reference",
        "requested",
        "provider_id",
        "failure_reason",
        "timeline",
        "earnings",
        "earnings_history",
        "recent_payouts",
    )

    class Media:
        css = {"all": ("payouts/payouts.css",)}
        js = ("payouts/queue.js",)

    def get_fieldsets(self, request, obj=None):
        if request.user.has_perm(DESTINATION_PERMISSION):
            return self.fieldsets
        return tuple(
            (
                name,
                {
                    **options,
                    "fields": tuple(
                        "destination_masked" if f == "destination" else f
                        for f in options["fields"]
                    ),
                },
            )
            for name, options in self.fieldsets
        )

    def get_changelist(self, request, **kwargs):
        return PayoutChangeList

    # The queue's columns.

    @admin.display(description="Reference", ordering="reference")
    def ref(self, payout):
        return _cell(payout.reference, "cut cut-ref")

    @admin.display(description="Status", ordering="status")
    def state(self, payout):
        status = Payout.Status
        if payout.status == status.AWAITING_SECOND_APPROVAL:
            mark = (
                "waiting for you"
                if getattr(payout, "yours_to_finish", False)
                else f"1st by {payout.first_approver}"
            )
            return format_html(
                '2nd approval<br><span class="mark mark-second" title="Approved '
                'first by {}; a second finance user must approve.">{}</span>',
                payout.first_approver,
                mark,
            )
        if payout.status == status.REQUESTED and payout.needs_second_approval:
            return format_html(
                '{}<br><span class="mark" title="Needs two finance approvals.">'
                "needs 2 approvals</span>",
                payout.get_status_display(),
            )
        return payout.get_status_display()

    @admin.display(description="Creator", ordering="creator__display_name")
    def payee(self, payout):
        return _cell(str(payout.creator), "cut cut-creator")

    @admin.display(description="Gross", ordering="gross_amount")
    def gross(self, payout):
        return figures.money_in(payout.gross_amount, payout.currency)

    @admin.display(description="Fee", ordering="fee_amount")
    def fee(self, payout):
        return figures.money_in(payout.fee_amount, payout.currency)

    # The selected rows' total is added up in the browser from data-cents.
    @admin.display(description="Net", ordering="net_amount")
    def net(self, payout):
        return format_html(
            '<span class="net" data-cents="{}" data-currency="{}">{}</span>',
            int(payout.net_amount * 100),
            payout.currency,
            figures.money_in(payout.net_amount, payout.currency),
        )

    @admin.display(description="Risk")
    def risk(self, payout):
        flags = getattr(payout, "flags", None)
        if flags is None:
            selectors.payouts_risk_attach([payout])
            flags = selectors.payout_flags(payout)
        if not flags:
            return "—"
        return format_html(
            '<span class="cut cut-risk risk-flag" title="{}">⚠ {} · {}</span>',
            "\n".join(f"{flag.label}: {flag.why}" for flag in flags),
            len(flags),
            ", ".join(flag.label for flag in flags),
        )

    @admin.display(description="Diamonds", ordering="diamond_units")
    def diamonds(self, payout):
        return figures.diamonds(payout.diamond_units)

    # The payout's page.

    @admin.display(description="Creator")
    def creator_link(self, payout):
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse("admin:gifting_creatorprofile_change", args=[payout.creator_id]),
            payout.creator,
            payout.creator.user.username,
        )

    @admin.display(description="Level")
    def level(self, payout):
        return str(payout.creator.level)

    @admin.display(description="Account age")
    def account_age(self, payout):
        joined = payout.creator.user.date_joined
        return f"{(timezone.now() - joined).days} days (since {joined:%Y-%m-%d})"

    @admin.display(description="Method changed")
    def method_changed(self, payout):
        changed = payout.method_changed_at
        return f"{changed:%Y-%m-%d %H:%M} UTC" if changed else "Never"

    @admin.display(description="Requested")
    def requested(self, payout):
        return f"{payout.requested_at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="Destination")
    def destination_masked(self, payout):
        return selectors.destination_masked(payout.destination)

    @admin.display(description="Events, oldest first")
    def timeline(self, payout):
        events = payout.events.select_related("actor").order_by("at", "id")
        return format_html(
            '<ol class="timeline">{}</ol>',
            format_html_join(
                "",
                '<li><span class="when">{} UTC</span> <strong>{}</strong> · {}{}</li>',
                (
                    (
                        f"{event.at:%Y-%m-%d %H:%M}",
                        STEP_WORDS.get(
                            (event.from_status, event.to_status),
                            STEP_WORDS.get(event.to_status, event.to_status),
                        ),
                        event.actor or "the system",
                        format_html('<br><span class="note">{}</span>', event.note)
                        if event.note
                        else "",
                    )
                    for event in events
                ),
            ),
        )

    @admin.display(description="Balance and earnings")
    def earnings(self, payout):
        earned = gifting_selectors.creator_earnings(creator=payout.creator)
        return (
            f"{figures.diamonds(earned.diamond_units)} diamonds held besides this "
            f"payout · {figures.diamonds(earned.earned_7d_units)} earned in 7 days "
            f"· {figures.diamonds(earned.earned_30d_units)} in 30 days"
        )

    @admin.display(description="Per day, last 30 days")
    def earnings_history(self, payout):
        rows = gifting_selectors.daily_earnings(creator=payout.creator, days=30)
        return html_table(
            ("Day", "Gifts", "Diamonds"),
            ((day, count, figures.diamonds(units)) for day, count, units in rows),
            empty="No gifts in 30 days.",
        )

    @admin.display(description="Last 10 besides this one")
    def recent_payouts(self, payout):
        others = (
            Payout.objects.filter(creator_id=payout.creator_id)
            .exclude(id=payout.id)
            .order_by("-requested_at", "-id")[:10]
        )
        return html_table(
            ("Asked", "Reference", "Status", "Net"),
            (
                (
                    f"{other.requested_at:%Y-%m-%d}",
                    format_html(
                        '<a href="{}" class="cut cut-ref" title="{}">{}</a>',
                        reverse("admin:payouts_payout_change", args=[other.id]),
                        other.reference,
                        other.reference,
                    ),
                    other.get_status_display(),
                    figures.money_in(other.net_amount, other.currency),
                )
                for other in others
            ),
            empty="None before this one.",
        )

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        if obj is not None:
            context.update(
                self._decision_context(request, obj, context.get("decision_forms"))
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _decision_context(self, request, payout, bound) -> dict:
        """What the page's decision panel shows, and the forms it offers."""
        selectors.payouts_risk_attach([payout])
        flags = selectors.payout_flags(payout)
        forms = {}
        refusal = None
        if self.has_approve_permission(request):
            for name, form_class in DECISIONS.items():
                if not states.allowed(name, payout.status):
                    continue
                if name == "approve":
                    refusal = services.approval_refusal(
                        payout=payout, actor=request.user
                    )
                    if refusal:
                        continue
                kwargs = {"flags": flags} if name == "approve" else {}
                forms[name] = (bound or {}).get(name) or form_class(
                    payout=payout, **kwargs
                )
        status = Payout.Status
        return {
            "payout": payout,
            "flags": flags,
            "forms": forms,
            "approve_refusal": refusal,
            "failure": payout.failure_reason.rstrip("."),
            "held_until": selectors.payout_hold_ends(payout)
            if payout.status in (*states.starts_from("approve"), status.APPROVED)
            else None,
            "amounts": [
                ("Diamonds", figures.diamonds(payout.diamond_units)),
                ("Rate", f"{figures.rate(payout.rate)} {payout.currency} a diamond"),
                ("Gross", figures.money_in(payout.gross_amount, payout.currency)),
                ("Fee", figures.money_in(payout.fee_amount, payout.currency)),
                ("Net", figures.money_in(payout.net_amount, payout.currency)),
                ("Currency", payout.currency),
            ],
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST" and "decision" in request.POST:
            return self._decide(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def _decide(self, request, object_id):
        """One decision posted from the payout's page: checked against what the
        page showed, then given to its service; the page again either way."""
        if not self.has_approve_permission(request):
            raise PermissionDenied
        payout = self.get_object(request, unquote(object_id))
        if payout is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        form_class = DECISIONS.get(request.POST["decision"])
        if form_class is None:
            return HttpResponseBadRequest("Unknown decision.")
        kwargs = {}
        if form_class is ApproveForm:
            selectors.payouts_risk_attach([payout])
            kwargs["flags"] = selectors.payout_flags(payout)
        form = form_class(request.POST, payout=payout, **kwargs)
        if not form.is_valid():
            # The page with the form's errors beside its fields; nothing changed.
            shown = copy.copy(request)
            shown.method = "GET"
            return super().change_view(
                shown, object_id, extra_context={"decision_forms": {form.name: form}}
            )
        try:
            done = self._decision_apply(request, form)
        except ServiceError as refusal:
            self.message_user(request, refusal.message, messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(request.path)

    def _decision_apply(self, request, form) -> str:
        payout, actor = form.payout, request.user
        if form.name == "approve":
            return approval_message(services.payout_approve(payout=payout, actor=actor))
        if form.name == "reject":
            services.payout_reject(
                payout=payout, actor=actor, reason=form.cleaned_data["reason"]
            )
            return (
                "Rejected: the diamonds went back to the creator, who sees the reason."
            )
        if form.name == "retry":
            payout = services.payout_retry(payout=payout, actor=actor)
            until = selectors.payout_hold_ends(payout)
            done = f"Queued for payment again as {payout.reference}."
            if until:
                done += f" It is held until {until:%Y-%m-%d %H:%M} UTC (cool-off)."
            return done
        services.payout_return(payout=payout, actor=actor)
        return "Returned: the diamonds went back to the creator."

    def has_approve_permission(self, request):
        return request.user.has_perm(APPROVE_PERMISSION)

    each_noun = "payout"

    def each_name(self, payout) -> str:
        return payout.reference

    @admin.action(description="Approve selected payouts", permissions=["approve"])
    def approve(self, request, queryset):
        payouts = list(queryset.select_related("creator__user"))
        selectors.payouts_risk_attach(payouts)
        flags = {payout.id: selectors.payout_flags(payout) for payout in payouts}
        flagged = [(payout, flags[payout.id]) for payout in payouts if flags[payout.id]]
        return self.confirm_form(
            request,
            payouts,
            action="approve",
            form_class=functools.partial(BulkApproveForm, flagged=flagged),
            page=self._approve_page(payouts, flags),
            run=lambda data: self._approve_each(request, payouts),
        )

    def _approve_page(self, payouts, flags) -> ConfirmPage:
        second = sum(
            payout.status == Payout.Status.REQUESTED and payout.needs_second_approval
            for payout in payouts
        )
        needs = (
            f" {second} of them need a second approval: yours is the first, and "
            "another finance user must approve them too."
            if second
            else ""
        )

        def line(payout):
            text = (
                f"{payout.reference} · {payout.creator} · net "
                f"{figures.money_in(payout.net_amount, payout.currency)} · "
                f"{payout.get_status_display()}"
            )
            if flags[payout.id]:
                text += " · ⚠ " + ", ".join(str(flag) for flag in flags[payout.id])
            return text

        return ConfirmPage(
            title="Approve payouts",
            crumb="Approve",
            intro=f"Approve {len(payouts)} payout(s), in total "
            f"{totals_text(selectors.payouts_totals(payouts), counted=False)}.{needs}",
            line=line,
            submit="Approve {count} payout(s)",
        )

    def _approve_each(self, request, payouts):
        outcomes = {FIRST_APPROVAL: [], APPROVED: []}
        for payout in payouts:
            try:
                payout = services.payout_approve(payout=payout, actor=request.user)
            except ServiceError as refusal:
                self.message_user(
                    request, f"{payout.reference}: {refusal.message}", messages.ERROR
                )
                continue
            message = approval_message(payout)
            if message in outcomes:
                outcomes[message].append(payout.reference)
            else:
                self.message_user(
                    request, f"{payout.reference}: {message}", messages.WARNING
                )
        for message, references in outcomes.items():
            if references:
                self.message_user(
                    request,
                    f"{len(references)} payout(s) ({', '.join(references)}): {message}",
                    messages.SUCCESS,
                )

    @admin.action(
        description="Reject selected payouts (with one reason)", permissions=["approve"]
    )
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            action="reject",
            form_class=BulkRejectForm,
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
    list_display = (
        "currency",
        "rate_shown",
        "effective_at",
        "created_by",
        "created_at",
    )
    list_filter = ("currency",)
    fields = ("currency", "rate", "effective_at")

    rate_shown = column("rate", figures.rate, description="Cash per diamond")

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request, obj=None):
        # A new rate is a new row: the old one explains past payouts.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PayoutRules)
class PayoutRulesAdmin(HistoryAdmin):
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
