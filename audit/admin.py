import json

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from core import display
from core.admin import ReadOnlyAdminMixin, column, truncated
from core.fields import MinorUnitsMixin, from_minor_units

from .models import AuditRecord
from .registry import AUDITED, current_label, labels_of, link_field, row_model


class ModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [(entry.label, entry.label) for entry in sorted(AUDITED, key=_label)]

    def queryset(self, request, queryset):
        if self.value():
            # A model's trail includes its links: a gift's shows its regions.
            links = [e.label for e in AUDITED if e.label.startswith(f"{self.value()}.")]
            return queryset.filter(model__in=[*labels_of(self.value()), *links])
        return queryset


class ActorKindFilter(admin.SimpleListFilter):
    title = "made by"
    parameter_name = "made_by"

    def lookups(self, request, model_admin):
        return [
            ("user", "A signed-in user"),
            ("command", "A management command"),
            # With or without the user who queued it.
            ("task", "A background task"),
            ("unknown", "Nobody known (shell, raw SQL)"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "user":
            return queryset.filter(actor__isnull=False).exclude(
                actor_label__startswith="task:"
            )
        if value == "task":
            return queryset.filter(actor_label__startswith="task:")
        if value == "command":
            return queryset.filter(
                actor__isnull=True, actor_label__startswith="command:"
            )
        if value == "unknown":
            return (
                queryset.filter(actor__isnull=True)
                .exclude(actor_label__startswith="command:")
                .exclude(actor_label__startswith="task:")
            )
        return queryset


class StaffActorFilter(admin.SimpleListFilter):
    """Staff by name; other users by search. Listing every actor in the audit would
    read the whole table on each page."""

    title = "staff member"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        staff = get_user_model().objects.filter(is_staff=True).order_by("username")
        return [(str(user.pk), user.username) for user in staff.only("username")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(actor_id=self.value())
        return queryset


def _label(entry) -> str:
    return entry.label


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value)


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # When, which row, what and who fit beside the menu and filters; long names
    # are cut (whole on hover), the values before and after are on the record.
    list_display = ("when", "row", "changed", "by")
    list_filter = (
        ModelFilter,
        "operation",
        ActorKindFilter,
        StaffActorFilter,
        "at",
    )
    search_fields = ("object_id",)
    search_help_text = "A row's id, e.g. 42; or a user name or command for who."
    list_select_related = ("actor",)
    show_full_result_count = False
    fields = (
        "at",
        "model",
        "audited_object",
        "operation",
        "actor",
        "actor_label",
        "diff",
    )
    readonly_fields = ("audited_object", "diff")

    def get_search_results(self, request, queryset, search_term):
        # Exact matches only: the table grows forever and these use its indexes.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(
            Q(object_id=term) | Q(actor__username=term) | Q(actor_label=term)
        ), False

    when = column("at", display.when, description="when", ordering="at")

    @admin.display(description="row", ordering="model")
    def row(self, record):
        # The id stays whole: only a long model name is cut.
        return format_html(
            '<span style="white-space: nowrap">{} #{}</span>',
            truncated(record.model, "12em"),
            truncated(record.object_id, "6em"),
        )

    @admin.display(description="changed")
    def changed(self, record):
        return truncated(self.changes(record), "16em")

    @admin.display(description="by")
    def by(self, record):
        if record.actor_id is None:
            return truncated(record.actor_label or "—", "10em")
        who = record.actor.get_username()
        return truncated(
            f"{who} ({record.actor_label})" if record.actor_label else who, "10em"
        )

    def changes(self, record):
        field = _link_field(record.model)
        if field is not None and record.operation != AuditRecord.Operation.UPDATE:
            row = record.after or record.before or {}
            verb = (
                "Added"
                if record.operation == AuditRecord.Operation.INSERT
                else "Removed"
            )
            target = field.related_model._meta.verbose_name
            return f"{verb} {target} #{row.get(field.m2m_reverse_name())}"
        if record.operation != AuditRecord.Operation.UPDATE:
            return record.get_operation_display()
        return ", ".join(record.changed_fields)

    @admin.display(description="row")
    def audited_object(self, record):
        # A link belongs to its owner's row: the gift, for a gift's regions.
        link = _link_field(record.model)
        owner = current_label(record.model) if link is None else link.model._meta.label
        app_label, _, model_name = owner.partition(".")
        try:
            url = reverse(
                f"admin:{app_label}_{model_name.lower()}_change",
                args=[record.object_id],
            )
        except NoReverseMatch:
            return f"{record.model} #{record.object_id}"
        return format_html(
            '<a href="{}">{} #{}</a>', url, record.model, record.object_id
        )

    @admin.display(description="before → after")
    def diff(self, record):
        before, after = record.before or {}, record.after or {}
        names = _verbose_names(record.model)
        shown = _shown_for(record)
        changed = set(record.changed_fields or ())
        columns = sorted(set(before) | set(after), key=lambda c: (c not in changed, c))
        rows = format_html_join(
            "",
            "<tr{}><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (
                    format_html(' style="{}"', "background: #fff3cd")
                    if column in changed
                    else "",
                    names.get(column, column),
                    shown(column, before.get(column))
                    if record.before is not None
                    else "",
                    shown(column, after.get(column))
                    if record.after is not None
                    else "",
                )
                for column in columns
            ),
        )
        return format_html(
            "<table><thead><tr><th>field</th><th>before</th><th>after</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )


def _link_field(label: str):
    try:
        return link_field(label)
    except ImproperlyConfigured:
        return None


def _link_shown(label: str):
    """A link's ids also name their rows (`3: EU (Europe)`); ids alone say little."""
    field = _link_field(label)
    targets = (
        {
            field.m2m_column_name(): field.model,
            field.m2m_reverse_name(): field.related_model,
        }
        if field is not None
        else {}
    )

    def shown(column, value) -> str:
        if column not in targets or value is None:
            return _shown(value)
        row = targets[column]._default_manager.filter(pk=value).first()
        return _shown(value) if row is None else f"{value}: {row}"

    return shown


def _shown_for(record):
    """How each column of the record's row reads: an amount in minor units as the
    amount (100845: 1008.45), a link's ids with the rows they name."""
    link_shown = _link_shown(record.model)
    places = _amount_places(record)

    def shown(column, value) -> str:
        if column in places and type(value) is int:
            return str(from_minor_units(value, places[column]))
        return link_shown(column, value)

    return shown


def _amount_places(record) -> dict[str, int]:
    """{column: decimal places} of the row's amounts kept in minor units when the
    record was written; before the switch its JSON holds the decimal itself."""
    model = row_model(record.model)
    if model is None:
        return {}
    places = {
        field.column: field.decimal_places
        for field in model._meta.concrete_fields
        if isinstance(field, MinorUnitsMixin)
    }
    if places:
        switched = (
            MigrationRecorder.Migration.objects.filter(
                app=model._meta.app_label, name__endswith="_amounts_in_minor_units"
            )
            .values_list("applied", flat=True)
            .first()
        )
        if switched is not None and record.at < switched:
            return {}
    return places


def _verbose_names(label: str) -> dict[str, str]:
    model = row_model(label)
    if model is None:
        return {}
    return {
        field.column: f"{field.verbose_name} ({field.column})"
        if field.verbose_name != field.column.replace("_", " ")
        else field.column
        for field in model._meta.concrete_fields
    }
