from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect

from core import display
from core.admin import (
    ConfirmPage,
    DecideEachMixin,
    EstimatedCountPaginator,
    ListExportMixin,
    OpensOnFilter,
    ReadOnlyAdminMixin,
    column,
    numbered_when,
    truncated,
)
from core.errors import ServiceError
from core.exports import Column
from core.history import HistoryAdmin
from wallets.units import diamonds_from_units

from . import selectors
from .eligibility import age_on
from .forms import (
    CreatorLevelForm,
    CreatorLevelListFormSet,
    EarningsHoldForm,
    EligibilityRuleForm,
    GifterLevelForm,
    LevelShareForm,
    RefuseApplicationForm,
)
from .models import (
    AccountFacts,
    CreatorApplication,
    CreatorLevel,
    EarningsHold,
    EligibilityRule,
    GifterLevel,
    GiftSend,
    HoldRecovery,
    SponsorCampaign,
    SponsorFunding,
)
from .services.applications import (
    DECIDE_PERMISSION,
    creator_application_approve,
    creator_application_refuse,
    eligibility_rule_set,
)
from .services.gifter_levels import gifter_level_save
from .services.holds import earnings_hold_set
from .services.sponsors import (
    CONFIRM_FUNDING_PERMISSION,
    sponsor_campaign_save,
    sponsor_funding_check,
    sponsor_funding_confirm,
    sponsor_funding_reject,
    sponsor_funding_request,
)

# The creator screen is registered in payouts/admin.py: beside levels and gifts it
# shows where the creator is paid and the method changes waiting for a decision.


@admin.register(CreatorLevel)
class CreatorLevelAdmin(HistoryAdmin):
    form = CreatorLevelForm
    list_display = ("number", "name", "min_diamonds_30d", "share_percent")
    list_editable = ("min_diamonds_30d", "share_percent")
    ordering = ("number",)
    history_list_display = ("share_change",)

    def get_fields(self, request, obj=None):
        fields = ["number", "name", "min_diamonds_30d", "share_percent"]
        may_save = (
            self.has_change_permission(request, obj)
            if obj
            else self.has_add_permission(request)
        )
        # The confirmation is a question to who saves; a reader sees no box.
        return [*fields, "confirm_share_order"] if may_save else fields

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", LevelShareForm)
        return super().get_changelist_form(request, **kwargs)

    def get_changelist_formset(self, request, **kwargs):
        kwargs.setdefault("formset", CreatorLevelListFormSet)
        return super().get_changelist_formset(request, **kwargs)

    @admin.display(description="Share")
    def share_change(self, record):
        """The share before -> after this change, or as it was when unchanged."""
        after = f"{display.number(record.share_percent)}%"
        before = record.prev_record
        if before is None or before.share_percent == record.share_percent:
            return after
        return f"{display.number(before.share_percent)}% → {after}"

    def has_delete_permission(self, request, obj=None):
        # Creators and past gift sends point at levels; retire a level by editing it.
        return False


@admin.register(GifterLevel)
class GifterLevelAdmin(HistoryAdmin):
    """The 50 gifter levels and the coins gifted each needs; only thresholds change."""

    form = GifterLevelForm
    list_display = ("number", "needs")
    # Right-aligned (core's change list), so the thresholds' digits line up.
    figure_columns = ("needs",)
    readonly_fields = ("number",)
    fields = ("number", "coins_needed")
    ordering = ("number",)

    needs = column(
        "coins_needed",
        display.number,
        description="Coins gifted",
        ordering="coins_needed",
    )

    def save_model(self, request, obj, form, change):
        gifter_level_save(level=obj)

    def has_add_permission(self, request):
        # Levels 1 to 50 exist from the start (seeded); staff move their thresholds.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GiftSend)
class GiftSendAdmin(ListExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    export_permission = "gifting.export_giftsend"
    export_columns = (
        Column("id", "id"),
        Column("time (UTC)", "created_at"),
        Column("sender", "sender.username"),
        Column("creator", "creator.display_name"),
        Column("creator username", "creator.user.username"),
        Column("gift", "gift.name"),
        Column("quantity", "quantity"),
        Column("coin price (stamped)", "coin_price"),
        Column("coins", "coins"),
        Column("coins a sponsor paid", "subsidy_coins"),
        Column("share percent", "share_percent"),
        Column("creator diamonds", "creator_diamond_units", diamonds_from_units),
        Column("platform diamonds", "platform_diamond_units", diamonds_from_units),
        Column("placement", lambda send: send.get_placement_display()),
        Column("stream id", "stream_id"),
        Column("video id", "video_id"),
        Column("comment", "comment"),
    )

    def export_queryset(self, request, queryset):
        return queryset.select_related("sender", "creator__user", "gift")

    # Who gave what to whom fits beside the menu and filters; the share, the
    # platform's part and where it was sent are on the gift send's page.
    list_display = (
        "when",
        "sender_short",
        "creator_short",
        "gift_line",
        "coins_shown",
        "creator_diamonds",
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
    paginator = EstimatedCountPaginator
    fields = (
        "created_at",
        "sender",
        "creator",
        "gift_line",
        "coin_price_shown",
        "coins_shown",
        "subsidy_coins",
        "campaign",
        "share_percent",
        "creator_diamonds",
        "platform_diamonds",
        "placement",
        "stream_id",
        "video_id",
        "comment",
        "idempotency_key",
    )
    readonly_fields = fields

    sender_short = column(
        "sender", description="Sender", ordering="sender__username", width="9em"
    )
    creator_short = column(
        "creator",
        description="Creator",
        ordering="creator__display_name",
        width="10em",
    )
    coins_shown = column("coins", display.coins, description="Coins", ordering="coins")
    creator_diamonds = column(
        "creator_diamond_units",
        display.diamonds,
        description="Diamonds earned",
        ordering="creator_diamond_units",
    )
    platform_diamonds = column(
        "platform_diamond_units", display.diamonds, description="Platform diamonds"
    )

    @admin.display(description="Gift send, when", ordering="created_at")
    def when(self, send):
        return numbered_when(send, send.created_at)

    @admin.display(description="Gift")
    def gift_line(self, send):
        return truncated(f"{display.coins(send.quantity)} × {send.gift.name}", "10em")

    @admin.display(description="Coin price")
    def coin_price_shown(self, send):
        return f"{display.coins(send.coin_price, unit='coin')} each, as stamped"


class RegionRuleAdmin(admin.ModelAdmin):
    """A region rule's screen (earnings holds, eligibility rules): a change is a
    new rule from now or later; one is never edited or deleted, as it explains
    what was decided under it."""

    list_filter = ("region",)
    list_select_related = ("region", "set_by")
    starts = column(
        "effective_from", display.when, description="From", ordering="effective_from"
    )
    reason_short = column("reason", description="Why", width="16em")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EarningsHold)
class EarningsHoldAdmin(RegionRuleAdmin):
    """Finance's hold rules: a change is a new rule from now or later."""

    form = EarningsHoldForm
    list_display = (
        "where",
        "days_shown",
        "starts",
        "in_force",
        "set_by",
        "set_when",
        "reason_short",
    )

    @admin.display(description="Gifts bought in", ordering="region__code")
    def where(self, rule):
        return rule.region.code if rule.region_id else "All regions"

    @admin.display(description="Hold", ordering="days")
    def days_shown(self, rule):
        return "Off" if rule.days == 0 else f"{rule.days} day{'s' * (rule.days != 1)}"

    set_when = column("set_at", display.when, description="Set", ordering="set_at")

    @admin.display(description="In force now", boolean=True)
    def in_force(self, rule):
        return rule.id in self._in_force

    def get_queryset(self, request):
        self._in_force = selectors.earnings_holds_in_force()
        return super().get_queryset(request)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        rule = earnings_hold_set(
            region=data["region"],
            days=data["days"],
            effective_from=data["effective_from"],
            reason=data["reason"],
            actor=request.user,
            now=form.now,
        )
        obj.pk, obj.set_by, obj.set_at = rule.pk, rule.set_by, rule.set_at


@admin.register(HoldRecovery)
class HoldRecoveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What store refunds took back from gifts still on hold: what the hold saved."""

    list_display = (
        "when",
        "purchase",
        "gift_send",
        "creator",
        "coins_shown",
        "diamonds_shown",
    )
    list_select_related = ("gift_send__creator",)
    search_fields = (
        "=purchase__id",
        "=gift_send__id",
        "gift_send__creator__display_name",
    )
    fields = (
        "created_at",
        "purchase",
        "gift_send",
        "paid_coins",
        "diamond_units",
        "transfer",
    )
    readonly_fields = fields

    @admin.display(description="Taken back", ordering="created_at")
    def when(self, recovery):
        return numbered_when(recovery, recovery.created_at)

    @admin.display(description="Creator")
    def creator(self, recovery):
        return recovery.gift_send.creator

    coins_shown = column(
        "paid_coins", display.coins, description="Paid coins", ordering="paid_coins"
    )
    diamonds_shown = column(
        "diamond_units",
        display.diamonds,
        description="Diamonds taken back",
        ordering="diamond_units",
    )


@admin.register(SponsorCampaign)
class SponsorCampaignAdmin(ListExportMixin, HistoryAdmin):
    """Finance's campaigns, each with its report; the list exports for billing."""

    export_permission = "gifting.change_sponsorcampaign"
    export_columns = (
        Column("id", "id"),
        Column("campaign", "name"),
        Column("sponsor", "sponsor_name"),
        Column("gift", "gift.name"),
        Column("starts (UTC)", "starts_at"),
        Column("ends (UTC)", "ends_at"),
        Column("subsidy per gift (coins)", "subsidy_coins"),
        Column("cap per sender (coins)", "per_user_cap_coins"),
        Column("gifts subsidized", "gifts"),
        Column("senders", "senders"),
        Column("coins subsidized", "coins_subsidized"),
        Column("coins funded", "coins_funded"),
        Column("budget left (coins)", "budget_left"),
    )
    # The report fits beside the menu and filters; the start, the coins funded and
    # the terms are on the campaign's page and in the export.
    list_display = (
        "name_short",
        "sponsor_short",
        "gift_short",
        "ends_at",
        "gifts_shown",
        "senders_shown",
        "subsidized_shown",
        "budget_left_shown",
    )
    # No filter sidebar: the report's columns need its width; search finds a
    # campaign by its name, its sponsor's or its gift's.
    search_fields = ("name", "sponsor_name", "gift__name")
    filter_horizontal = ("regions",)
    fields = (
        "name",
        "sponsor_name",
        "gift",
        "regions",
        "subsidy_coins",
        "per_user_cap_coins",
        "starts_at",
        "ends_at",
    )
    report_fields = (
        "gifts_shown",
        "senders_shown",
        "subsidized_shown",
        "funded_shown",
        "budget_left_shown",
    )

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else (*self.fields, *self.report_fields)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.report_fields

    def get_queryset(self, request):
        return selectors.sponsor_campaigns_reported(super().get_queryset(request))

    def save_model(self, request, obj, form, change):
        sponsor_campaign_save(campaign=obj)

    def has_delete_permission(self, request, obj=None):
        # Its budget and the gifts it paid for stay on record.
        return False

    name_short = column("name", description="Campaign", ordering="name", width="12em")
    sponsor_short = column(
        "sponsor_name", description="Sponsor", ordering="sponsor_name", width="9em"
    )
    gift_short = column("gift.name", description="Gift", width="9em")
    gifts_shown = column("gifts", display.coins, description="Gifts", ordering="gifts")
    senders_shown = column(
        "senders", display.coins, description="Senders", ordering="senders"
    )
    subsidized_shown = column(
        "coins_subsidized",
        display.coins,
        description="Coins subsidized",
        ordering="coins_subsidized",
    )
    funded_shown = column("coins_funded", display.coins, description="Coins funded")
    budget_left_shown = column(
        "budget_left",
        display.coins,
        description="Budget left",
        ordering="budget_left",
    )


class SponsorFundingForm(forms.ModelForm):
    class Meta:
        model = SponsorFunding
        fields = ("campaign", "coins", "money_received", "payment_reference")

    actor = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            sponsor_funding_check(
                campaign=data["campaign"],
                coins=data["coins"],
                money_received=data.get("money_received"),
                payment_reference=data.get("payment_reference", ""),
                actor=self.actor,
            )
        except ServiceError as refusal:
            self.add_error(refusal.field, refusal.message)
        return data


class RejectFundingForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Kept on each rejected funding.")


REJECT_FUNDINGS_PAGE = ConfirmPage(
    title="Reject sponsor fundings",
    crumb="Reject",
    intro="These fundings will be rejected and never move coins; one already "
    "decided is left as it is.",
    line=lambda funding: (
        f"#{funding.id} · {funding.campaign} · {display.coins(funding.coins)} coins "
        f"· {funding.money_received} · {funding.get_status_display()}"
    ),
    submit="Reject {count} funding(s)",
)


@admin.register(SponsorFunding)
class SponsorFundingAdmin(DecideEachMixin, admin.ModelAdmin):
    """Money brands paid, recorded by one finance user and confirmed by another."""

    form = SponsorFundingForm
    list_display = (
        "id",
        "campaign",
        "coins_shown",
        "money_received",
        "payment_reference",
        "status",
        "requested_by",
        "decided_by",
    )
    list_filter = ("status",)
    list_select_related = ("campaign", "requested_by", "decided_by")
    search_fields = ("payment_reference", "campaign__name", "campaign__sponsor_name")
    actions = ("confirm", "reject")
    each_noun = "funding"
    coins_shown = column("coins", display.coins, description="Coins", ordering="coins")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            *SponsorFundingForm.Meta.fields,
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "rejection_reason",
            "transfer",
        )

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) or SponsorFundingForm.Meta.fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        funding = sponsor_funding_request(
            campaign=data["campaign"],
            coins=data["coins"],
            money_received=data["money_received"],
            payment_reference=data["payment_reference"],
            actor=request.user,
        )
        obj.pk, obj._state.adding = funding.pk, False
        self.message_user(
            request,
            f"Funding #{funding.pk} is recorded: another finance user confirms it.",
            messages.SUCCESS,
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_confirm_permission(self, request):
        return request.user.has_perm(CONFIRM_FUNDING_PERMISSION)

    def has_reject_permission(self, request):
        return self.has_confirm_permission(request)

    def each_name(self, funding) -> str:
        return f"#{funding.id}"

    @admin.action(description="Confirm selected fundings", permissions=["confirm"])
    def confirm(self, request, queryset):
        self._each(
            request,
            queryset.order_by("id"),
            "Confirmed",
            lambda funding: sponsor_funding_confirm(
                funding=funding, actor=request.user
            ),
        )

    @admin.action(description="Reject selected fundings", permissions=["reject"])
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset.select_related("campaign").order_by("id"),
            action="reject",
            form_class=RejectFundingForm,
            page=REJECT_FUNDINGS_PAGE,
            verb="Rejected",
            call=lambda funding, reason: sponsor_funding_reject(
                funding=funding, actor=request.user, reason=reason
            ),
        )


@admin.register(EligibilityRule)
class EligibilityRuleAdmin(RegionRuleAdmin):
    """Who may become a creator, per region: a change is a new rule from now on."""

    form = EligibilityRuleForm
    list_display = (
        "where",
        "min_age",
        "followers_shown",
        "review_all",
        "facts_max_age_days",
        "starts",
        "set_by",
        "reason_short",
    )

    @admin.display(description="Applicants in", ordering="region__code")
    def where(self, rule):
        return rule.region.code if rule.region_id else "All regions"

    followers_shown = column(
        "min_followers",
        display.coins,
        description="Min. followers",
        ordering="min_followers",
    )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        rule = eligibility_rule_set(
            region=data["region"],
            min_age=data["min_age"],
            min_followers=data["min_followers"],
            review_all=data["review_all"],
            facts_max_age_days=data["facts_max_age_days"],
            effective_from=data["effective_from"],
            reason=data["reason"],
            actor=request.user,
            now=form.now,
        )
        obj.pk, obj.set_by, obj.set_at = rule.pk, rule.set_by, rule.set_at


@admin.register(AccountFacts)
class AccountFactsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What the platform last reported per user; written only by its endpoint."""

    list_display = ("user", "followers_shown", "birth_date", "suspended", "region")
    list_display += ("as_of",)
    list_filter = ("suspended", "region")
    list_select_related = ("user", "region")
    search_fields = ("=user__username",)
    followers_shown = column(
        "follower_count",
        display.coins,
        description="Followers",
        ordering="follower_count",
    )


class ApplicationStatusFilter(OpensOnFilter):
    title = "status"
    parameter_name = "status"
    default = CreatorApplication.Status.PENDING

    def lookups(self, request, model_admin):
        return [*CreatorApplication.Status.choices, ("all", "All")]

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(status=self.value())


REFUSE_APPLICATIONS_PAGE = ConfirmPage(
    title="Refuse creator applications",
    crumb="Refuse",
    intro="The reason is shown to each applicant; an application already decided, "
    "or your own, is left as it is.",
    line=lambda application: (
        f"#{application.id} · {application.display_name} · {application.user}"
    ),
    submit="Refuse {count} application(s)",
)


@admin.register(CreatorApplication)
class CreatorApplicationAdmin(DecideEachMixin, HistoryAdmin):
    """The review queue: applications the rules did not decide, oldest first."""

    # What a reviewer decides on fits beside the menu and filters; the region,
    # the rule and who decided are on the application's page.
    list_display = (
        "name_short",
        "user",
        "status",
        "followers_then",
        "age_then",
        "queued_because",
        "applied",
    )
    list_display_links = ("name_short",)
    list_filter = (ApplicationStatusFilter, "region")
    list_select_related = ("user", "region", "decided_by")
    search_fields = ("display_name", "=user__username")
    ordering = ("created_at", "id")
    actions = ("approve", "refuse")
    each_noun = "application"
    fieldsets = (
        ("Applicant", {"fields": ("user", "display_name", "created_at")}),
        (
            "Platform facts when applying",
            {
                "fields": (
                    "followers_then",
                    "birth_date",
                    "age_then",
                    "platform_suspended",
                    "region",
                    "facts_as_of",
                )
            },
        ),
        (
            "Rule",
            {"fields": ("rule", "rule_terms", "reasons_shown", "review_reason")},
        ),
        (
            "Decision",
            {
                "fields": (
                    "status",
                    "decided_by",
                    "decided_at",
                    "decision_note",
                    "creator",
                )
            },
        ),
    )
    readonly_fields = (
        "user",
        "display_name",
        "created_at",
        "followers_then",
        "birth_date",
        "age_then",
        "platform_suspended",
        "region",
        "facts_as_of",
        "rule",
        "rule_terms",
        "reasons_shown",
        "review_reason",
        "status",
        "decided_by",
        "decided_at",
        "decision_note",
        "creator",
    )
    name_short = column(
        "display_name", description="Name", ordering="display_name", width="10em"
    )
    queued_because = column("review_reason", description="Queued because", width="14em")
    applied = column(
        "created_at", display.when, description="Applied", ordering="created_at"
    )

    @admin.display(description="Followers", ordering="follower_count")
    def followers_then(self, application):
        return display.coins(application.follower_count)

    @admin.display(description="Age")
    def age_then(self, application):
        if application.birth_date is None:
            return display.NONE
        return age_on(application.birth_date, application.created_at.date())

    @admin.display(description="Refused because")
    def reasons_shown(self, application):
        return "; ".join(reason["message"] for reason in application.reasons) or (
            display.NONE
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        return request.user.has_perm(DECIDE_PERMISSION)

    def each_name(self, application) -> str:
        return f"#{application.id}"

    @admin.action(description="Approve selected applications", permissions=["decide"])
    def approve(self, request, queryset):
        self._each(
            request, queryset.order_by("id"), "Approved", self._approver(request)
        )

    @admin.action(description="Refuse selected applications", permissions=["decide"])
    def refuse(self, request, queryset):
        return self._with_reason(
            request,
            queryset.select_related("user").order_by("id"),
            action="refuse",
            form_class=RefuseApplicationForm,
            page=REFUSE_APPLICATIONS_PAGE,
            verb="Refused",
            call=self._refuser(request),
        )

    def _approver(self, request):
        return lambda application: creator_application_approve(
            application=application, actor=request.user
        )

    def _refuser(self, request):
        return lambda application, reason: creator_application_refuse(
            application=application, actor=request.user, reason=reason
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """One application's page: Approve and Refuse (with the reason) beside it,
        for who may decide, while it waits; they run what the list's actions run."""
        if request.method == "POST" and {"_approve", "_refuse"} & set(request.POST):
            return self._decide_one(request, object_id)
        application = self.get_object(request, object_id)
        waiting = (
            application is not None
            and application.status == CreatorApplication.Status.PENDING
        )
        if waiting and self.has_decide_permission(request):
            extra_context = {
                **(extra_context or {}),
                "decide_form": RefuseApplicationForm(),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _decide_one(self, request, object_id):
        application = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_decide_permission(request):
            raise PermissionDenied
        if "_approve" in request.POST:
            self._each(request, [application], "Approved", self._approver(request))
            return redirect(request.path)
        form = RefuseApplicationForm(request.POST)
        if form.is_valid():
            refuse = self._refuser(request)
            reason = form.cleaned_data["reason"]
            self._each(
                request, [application], "Refused", lambda one: refuse(one, reason)
            )
        else:
            self.message_user(
                request,
                f"{self.each_name(application)}: not refused. Reason: "
                + " ".join(form.errors["reason"]),
                messages.ERROR,
            )
        return redirect(request.path)
