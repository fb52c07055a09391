from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from djmoney.contrib.exchange import admin as exchange_admin
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from import_export.admin import ImportExportModelAdmin
from modeltranslation.admin import TranslationAdmin

from core import display
from core.admin import ReadOnlyAdminMixin, column, nowrap
from core.history import ReadableHistoryAdmin

from . import imports, languages, selectors, services
from .exchange import exchange_backend_class
from .forms import (
    CoinBundleForm,
    FirstFormatExportForm,
    RateForm,
    RegionPriceGridForm,
    RegionStorePicker,
    time_zone_note,
)
from .imports import quick
from .models import (
    BundlePrice,
    CoinBundle,
    Gift,
    GiftPriceChange,
    ImportJob,
    Region,
    RepricingProposal,
)
from .resources import BundlePriceResource, GiftPriceChangeResource, GiftResource


@admin.register(Region)
class RegionAdmin(ReadableHistoryAdmin):
    list_display = (
        "code",
        "name",
        "currency",
        "price_rule",
        "web_discount_percent",
        "prices_include_tax",
        "is_active",
    )
    list_filter = ("is_active", "price_rule", "prices_include_tax", "currency")
    search_fields = ("code", "name")
    ordering = ("code",)
    history_list_display = ("price_rule", "web_discount_percent", "is_active")


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


def _price_change_schedule(request, price_change: GiftPriceChange) -> GiftPriceChange:
    """Schedule what a form holds through the service, which stamps who did it."""
    return services.gift_price_change_schedule(
        gift=price_change.gift,
        coin_price=price_change.coin_price,
        effective_at=price_change.effective_at,
        actor=request.user,
    )


class TimeZoneNamedMixin:
    """The moment a price change goes live names the time zone it is read in."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "effective_at":
            field.label = f"Goes live at ({timezone.get_current_timezone_name()})"
            field.help_text = time_zone_note()
        return field


class PendingPriceChangeInline(TimeZoneNamedMixin, admin.TabularInline):
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


class CatalogImportExportAdmin(ImportExportModelAdmin):
    """The catalog's import and export screens: the first format of
    IMPORT_EXPORT_FORMATS selected, each bad row listed with its line, column and
    value, each change as old -> new, and the hand edit's permissions required."""

    import_template_name = "admin/catalog/import.html"
    export_form_class = FirstFormatExportForm
    # What a hand edit of the rows an import may write needs (imports.jobs).
    import_permissions: tuple[str, ...] = ()

    def has_import_permission(self, request):
        return request.user.has_perms(self.import_permissions)

    def get_import_form_initial(self, request):
        return {**super().get_import_form_initial(request), "format": "0"}

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        result = getattr(response, "context_data", {}).get("result")
        if result is not None:
            resource = self.get_import_resource_classes(request)[0]()
            columns = {
                field.attribute: field.column_name
                for field in resource.get_import_fields()
                if field.attribute
            }
            response.context_data["bad_rows"] = quick.bad_rows(result, columns)
            response.context_data["row_changes"] = quick.row_changes(result)
        return response


class LargeImportMixin:
    """A link on the changelist to the background import of large CSV files; the
    import-export screens stay for small files with a preview."""

    import_export_change_list_template = "admin/catalog/large_import_change_list.html"
    large_import_kind = None

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if self.large_import_kind in imports.import_kinds_allowed(request.user):
            extra_context["large_import_url"] = (
                reverse("admin:catalog_importjob_upload")
                + f"?kind={self.large_import_kind}"
            )
        return super().changelist_view(request, extra_context)


class MissingLanguageFilter(admin.SimpleListFilter):
    title = "translation missing"
    parameter_name = "missing_language"

    def lookups(self, request, model_admin):
        names = dict(settings.LANGUAGES)
        return [(code, names[code]) for code in languages.others()]

    def queryset(self, request, queryset):
        if self.value() in languages.others():
            return queryset.filter(languages.missing_filter(self.value()))
        return queryset


@admin.register(Gift)
class GiftAdmin(
    LargeImportMixin, TranslationAdmin, CatalogImportExportAdmin, ReadableHistoryAdmin
):
    resource_classes = [GiftResource]
    large_import_kind = ImportJob.Kind.GIFTS
    import_permissions = imports.IMPORT_PERMISSIONS[ImportJob.Kind.GIFTS]
    # Live now and Sponsored stay in view beside the menu and filters: the window
    # shows its dates (the moments on hover and on the gift's page).
    list_display = (
        "icon_preview",
        "name",
        "coin_price",
        "scheduled_price",
        "category",
        "is_active",
        "live_now",
        "sponsored",
        "window",
        "missing_languages",
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
        MissingLanguageFilter,
    )
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name_en",)}
    filter_horizontal = ("regions",)
    readonly_fields = ("price_schedule", "created_at", "updated_at")
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
                    "name_en",
                    "slug",
                    "coin_price",
                    "price_schedule",
                    "category",
                    "sort_order",
                    "is_active",
                )
            },
        ),
        ("Artwork", {"fields": ("icon", "animation", "sound", "description_en")}),
        (
            "Other languages",
            {
                "fields": [
                    (
                        languages.column("name", code),
                        languages.column("description", code),
                    )
                    for code in languages.others()
                ],
                "description": "Empty: the app shows the English text.",
            },
        ),
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

    def get_queryset(self, request):
        return selectors.gifts_with_pending_price_changes(super().get_queryset(request))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        language = getattr(db_field, "language", None)
        if field is not None and language is not None:
            # "Name in Indonesian", not the library's "Name [ind]"; Arabic written
            # right to left; short boxes, as ten languages stand one under another.
            original = db_field.translated_field.verbose_name.capitalize()
            field.label = f"{original} in {dict(settings.LANGUAGES)[language]}"
            field.widget.attrs["dir"] = "auto"
            if isinstance(field.widget, forms.Textarea):
                field.widget.attrs["rows"] = 3
        return field

    @admin.display(description="Next price")
    def scheduled_price(self, gift):
        """The next pending price change, "from <moment>: <price>", in a narrow
        cell; every pending one is on hover and on the gift's page."""
        pending = gift.pending_price_changes
        if not pending:
            return display.NONE
        first = pending[0]
        moment = timezone.localtime(first.effective_at)
        later = f", then {len(pending) - 1} more" if len(pending) > 1 else ""
        return format_html(
            '<span title="{}">from {} {}: {}{}</span>',
            "; ".join(
                f"from {display.when(change.effective_at)}: "
                f"{display.coins(change.coin_price, unit='coin')}"
                for change in pending
            ),
            nowrap(f"{moment:%Y-%m-%d}"),
            nowrap(f"{moment:%H:%M}"),
            nowrap(display.coins(first.coin_price, unit="coin")),
            later,
        )

    @admin.display(description="Scheduled prices")
    def price_schedule(self, gift):
        """Beside the price: what is scheduled, and a link to the form at the foot
        of the page where a change is scheduled, moved or cancelled."""
        pending = getattr(gift, "pending_price_changes", [])
        zone = timezone.get_current_timezone_name()
        scheduled = format_html_join(
            "",
            "from {} ({}): {}<br>",
            (
                (
                    display.when(change.effective_at),
                    zone,
                    display.coins(change.coin_price, unit="coin"),
                )
                for change in pending
            ),
        )
        return format_html(
            '{}<a href="#price_changes-group">{} ↓</a>',
            scheduled if pending else "None pending. ",
            "Schedule, move or cancel a change",
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
        start, end = gift.available_from, gift.available_until
        if not start and not end:
            return "always"
        moments = f"{display.when(start) if start else '…'} – "
        moments += display.when(end) if end else "…"
        dates = f"{f'{start:%Y-%m-%d}' if start else '…'} – "
        dates += f"{end:%Y-%m-%d}" if end else "…"
        return format_html('<span title="{}">{}</span>', moments, dates)

    @admin.display(description="Live now", boolean=True)
    def live_now(self, gift):
        return gift.is_available_at(timezone.now())

    @admin.display(description="Sponsored", boolean=True, ordering="sponsor_name")
    def sponsored(self, gift):
        return bool(gift.sponsor_name)

    # Narrow: the list with a scheduled price must still fit a laptop.
    @admin.display(description="Missing in")
    def missing_languages(self, gift):
        missing = languages.missing(gift)
        if not missing:
            return display.NONE
        shown = ", ".join(missing[:2])
        more = f" +{len(missing) - 2}" if len(missing) > 2 else ""
        return format_html(
            '<span title="{}">{}{}</span>', ", ".join(missing), shown, more
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is not GiftPriceChange:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        for price_change in formset.deleted_objects:
            price_change.delete()
        formset.new_objects = [
            _price_change_schedule(request, price_change)
            for price_change in formset.new_objects
        ]
        for price_change, _ in formset.changed_objects:
            services.gift_price_change_reschedule(
                change=price_change,
                coin_price=price_change.coin_price,
                effective_at=price_change.effective_at,
            )

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
class GiftPriceChangeAdmin(TimeZoneNamedMixin, CatalogImportExportAdmin):
    resource_classes = [GiftPriceChangeResource]
    # An import schedules changes as the add form does, through the same service.
    import_permissions = ("catalog.add_giftpricechange",)
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
        scheduled = _price_change_schedule(request, obj)
        # The admin logs and redirects to `obj`: make it the row the service wrote.
        obj.pk, obj.created_by = scheduled.pk, scheduled.created_by
        obj.created_at = scheduled.created_at

    def has_change_permission(self, request, obj=None):
        # A scheduled change is replaced (cancel and schedule anew), not edited.
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_applied:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(CoinBundle)
class CoinBundleAdmin(ReadableHistoryAdmin):
    form = CoinBundleForm
    list_display = (
        "sku_short",
        "coins_shown",
        "bonus_shown",
        "base_price_shown",
        "sort_order",
        "is_active",
    )
    list_editable = ("sort_order", "is_active")
    list_filter = ("is_active",)
    search_fields = ("sku",)
    fields = ("sku", "coins", "bonus_coins", "base_price", "sort_order", "is_active")
    actions = ("propose_repricing",)
    history_list_display = ("base_price", "bonus_coins", "is_active")

    sku_short = column("sku", description="SKU", ordering="sku", width="12em")

    coins_shown = column("coins", display.coins, description="Coins", ordering="coins")

    bonus_shown = column(
        "bonus_coins", display.coins, description="Bonus coins", ordering="bonus_coins"
    )

    base_price_shown = column(
        "base_price", display.money, description="Base price", ordering="base_price"
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        may_save = (
            self.has_change_permission(request, obj)
            if obj
            else self.has_add_permission(request)
        )
        form.can_edit_prices = may_save and request.user.has_perm(
            "catalog.add_bundleprice"
        )
        return form

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.new_prices:
            services.bundle_prices_set(
                bundle=form.instance,
                prices=form.new_prices,
                effective_at=form.cleaned_data.get("prices_effective_at"),
                actor=request.user,
            )

    def has_propose_permission(self, request):
        return request.user.has_perm("catalog.add_repricingproposal")

    @admin.action(
        description="Preview re-pricing of selected bundles", permissions=["propose"]
    )
    def propose_repricing(self, request, queryset):
        proposal = services.repricing_proposal_create(
            bundles=queryset, actor=request.user
        )
        if proposal is None:
            self.message_user(
                request,
                "No derived price of these bundles would move.",
                messages.INFO,
            )
            return None
        return redirect("admin:catalog_repricingproposal_change", proposal.id)


class PriceStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return list(selectors.PRICE_STATUSES.items())

    def queryset(self, request, queryset):
        return selectors.bundle_price_history_with_status(
            queryset, status=self.value(), when=timezone.now()
        )


@admin.register(BundlePrice)
class BundlePriceAdmin(LargeImportMixin, ReadOnlyAdminMixin, CatalogImportExportAdmin):
    """Every price row, the history of each price. Read-only: a price changes by a
    new row, from a bundle's price grid, an import or an applied re-pricing."""

    resource_classes = [BundlePriceResource]
    large_import_kind = ImportJob.Kind.BUNDLE_PRICES
    # An import adds rows and never edits one: adding is what it needs.
    import_permissions = imports.IMPORT_PERMISSIONS[ImportJob.Kind.BUNDLE_PRICES]
    # Which price, how much, since when: the rate and who set it are on its page.
    list_display = (
        "bundle_short",
        "region_code",
        "channel",
        "price_shown",
        "effective",
        "status",
        "by_hand",
    )
    fields = (
        "bundle",
        "region",
        "channel",
        "price_shown",
        "effective_at",
        "status",
        "source",
        "rate",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    list_filter = (PriceStatusFilter, "source", "channel", "region", "bundle")
    list_select_related = ("bundle", "region", "created_by")
    search_fields = ("bundle__sku", "region__code", "region__name")
    date_hierarchy = "effective_at"
    ordering = ("bundle__sort_order", "region__code", "channel", "-effective_at")

    def get_queryset(self, request):
        return selectors.bundle_price_history(when=timezone.now())

    bundle_short = column(
        "bundle", description="Bundle", ordering="bundle__sort_order", width="10em"
    )

    @admin.display(description="Region", ordering="region__code")
    def region_code(self, price):
        return format_html(
            '<span title="{}">{}</span>', price.region.name, price.region.code
        )

    price_shown = column("price", display.money, description="Price", ordering="price")

    effective = column(
        "effective_at",
        display.when,
        description="In force from",
        ordering="effective_at",
    )

    @admin.display(description="Status")
    def status(self, price):
        return selectors.bundle_price_status(price, when=timezone.now())

    @admin.display(description="By hand", boolean=True, ordering="source")
    def by_hand(self, price):
        return price.source == BundlePrice.Source.MANUAL

    rate = column(
        "exchange_rate", display.rate, description="USD rate", ordering="exchange_rate"
    )

    def get_urls(self):
        return [
            path(
                "grid/",
                self.admin_site.admin_view(self.grid_view),
                name="catalog_bundleprice_grid",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["grid_url"] = reverse("admin:catalog_bundleprice_grid")
        return super().changelist_view(request, extra_context)

    def may_set_prices(self, request) -> bool:
        # Setting a price adds a row that replaces the one in force: both rights.
        return request.user.has_perms(
            ["catalog.add_bundleprice", "catalog.change_bundleprice"]
        )

    def grid_view(self, request):
        """One region and store across all bundles: who may set prices edits them
        in one form, all or nothing; others read them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        can_edit = self.may_set_prices(request)
        if request.method == "POST" and not can_edit:
            raise PermissionDenied
        chosen = {"channel": BundlePrice.Channel.APP, **request.GET.dict()}
        if "region" not in chosen:
            first = Region.objects.filter(is_active=True).order_by("code").first()
            chosen["region"] = first.code if first else ""
        picker = RegionStorePicker(chosen)
        form = None
        if picker.is_valid():
            form = RegionPriceGridForm(
                request.POST or None,
                region=picker.cleaned_data["region"],
                channel=picker.cleaned_data["channel"],
                can_edit=can_edit,
            )
        elif request.method == "POST":
            return HttpResponseBadRequest("Choose a region and a store.")
        if form is not None and form.is_bound and form.is_valid():
            return self._grid_save(request, form)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Prices of one region and store",
            "picker": picker,
            "form": form,
            "channel_label": form and BundlePrice.Channel(form.channel).label,
        }
        return TemplateResponse(request, "admin/catalog/bundleprice/grid.html", context)

    def _grid_save(self, request, form):
        if not form.new_prices:
            self.message_user(request, "No price changed.", messages.INFO)
            return redirect(request.get_full_path())
        rows = form.save(actor=request.user)
        channel = BundlePrice.Channel(form.channel).label
        self.message_user(
            request,
            f"{len(rows)} new price(s) set by hand in {form.region} · {channel}.",
            messages.SUCCESS,
        )
        return redirect(request.get_full_path())


@admin.register(RepricingProposal)
class RepricingProposalAdmin(admin.ModelAdmin):
    """Review a proposal's every price move, then apply or discard it."""

    list_display = (
        "__str__",
        "created_at",
        "origin",
        "status",
        "moves",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status",)
    list_select_related = ("created_by", "decided_by")
    date_hierarchy = "created_at"
    fields = (
        "status",
        "origin",
        "created_at",
        "notes",
        "decided_by",
        "decided_at",
        "preview",
    )
    readonly_fields = fields
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(moves=Count("lines"))

    @admin.display(description="Created by")
    def origin(self, proposal):
        return proposal.created_by or "scheduled rates refresh"

    @admin.display(description="Prices", ordering="moves")
    def moves(self, proposal):
        return proposal.moves

    @admin.display(description="Prices that move")
    def preview(self, proposal):
        lines = proposal.lines.select_related("bundle", "region", "old_price")
        return render_to_string(
            "admin/catalog/repricingproposal/preview.html",
            {
                "lines": lines,
                "applied": proposal.status == RepricingProposal.Status.APPLIED,
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST" and {"_apply", "_discard"} & set(request.POST):
            return self._decide(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def _decide(self, request, object_id):
        proposal = get_object_or_404(RepricingProposal, pk=object_id)
        if not self.has_change_permission(request, proposal):
            raise PermissionDenied
        try:
            if "_apply" in request.POST:
                rows = services.repricing_proposal_apply(
                    proposal=proposal, actor=request.user
                )
                self.message_user(
                    request,
                    f"{proposal} applied: {len(rows)} new price(s).",
                    messages.SUCCESS,
                )
            else:
                services.repricing_proposal_discard(
                    proposal=proposal, actor=request.user
                )
                self.message_user(request, f"{proposal} discarded.", messages.SUCCESS)
        except ValidationError as error:
            self.message_user(request, error.messages[0], messages.ERROR)
        return redirect(request.path)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# djmoney registers a Rate admin that cannot add a rate (its backend is read-only).
admin.site.unregister(Rate)


@admin.register(Rate)
class RateAdmin(exchange_admin.RateAdmin):
    form = RateForm
    list_display = ("currency", "value_shown", "backend")
    list_filter = ("backend", "currency")
    list_select_related = ("backend",)
    search_fields = ("currency",)

    value_shown = column(
        "value", display.rate, description="Units per 1 USD", ordering="value"
    )

    def get_readonly_fields(self, request, obj=None):
        return ("backend", "currency") if obj else ()

    def get_changeform_initial_data(self, request):
        return {"backend": exchange_backend_class().name}


@admin.register(ExchangeBackend)
class ExchangeBackendAdmin(admin.ModelAdmin):
    list_display = ("name", "base_currency", "last_update")
    search_fields = ("name",)

    def get_readonly_fields(self, request, obj=None):
        return ("name", "last_update") if obj else ("last_update",)


class ImportUploadForm(forms.ModelForm):
    class Meta:
        model = ImportJob
        fields = ("kind", "file", "dry_run")

    def __init__(self, *args, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (kind, label) for kind, label in ImportJob.Kind.choices if kind in kinds
        ]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Large CSV imports run in the background: upload, then follow the job here."""

    list_display = (
        "__str__",
        "kind",
        "status",
        "dry_run",
        "created_by",
        "created_at",
        "rows",
        "rows_created",
        "rows_updated",
        "rows_skipped",
        "errors",
        "report_link",
    )
    list_filter = ("kind", "status", "dry_run")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "file",
        "dry_run",
        "status",
        "message",
        "rows",
        "rows_created",
        "rows_updated",
        "rows_skipped",
        "errors",
        "report_link",
        "bad_rows",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    actions = None

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="catalog_importjob_upload",
            ),
            path(
                "<int:job_id>/report/",
                self.admin_site.admin_view(self.report_view),
                name="catalog_importjob_report",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["may_upload"] = bool(imports.import_kinds_allowed(request.user))
        return super().changelist_view(request, extra_context)

    @admin.display(description="Bad rows")
    def report_link(self, job):
        if not job.report:
            return "—"
        url = reverse("admin:catalog_importjob_report", args=[job.id])
        return format_html('<a href="{}">Download report (CSV)</a>', url)

    @admin.display(description="Errors by line")
    def bad_rows(self, job):
        if not job.report:
            return "—"
        with job.report.open("rb") as report:
            bad_rows = imports.bad_rows_read(report.read())
        return render_to_string("admin/catalog/_bad_rows.html", {"bad_rows": bad_rows})

    def upload_view(self, request):
        kinds = imports.import_kinds_allowed(request.user)
        if not kinds:
            raise PermissionDenied
        form = ImportUploadForm(
            request.POST or None,
            request.FILES or None,
            kinds=kinds,
            initial={"kind": request.GET.get("kind")},
        )
        if request.method == "POST" and form.is_valid():
            job = imports.import_job_start(
                kind=form.cleaned_data["kind"],
                file=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
                actor=request.user,
            )
            self.message_user(
                request,
                f"{job} is queued; this page shows how it went.",
                messages.SUCCESS,
            )
            return redirect("admin:catalog_importjob_change", job.id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import a large CSV file",
            "form": form,
            "max_bad_rows": imports.BAD_ROWS_KEPT,
        }
        return TemplateResponse(request, "admin/catalog/importjob/upload.html", context)

    def report_view(self, request, job_id):
        job = get_object_or_404(ImportJob, pk=job_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        if not job.report:
            raise Http404("This import has no bad-row report.")
        return FileResponse(
            job.report.open("rb"),
            as_attachment=True,
            filename=f"import-{job.id}-bad-rows.csv",
            content_type="text/csv",
        )
