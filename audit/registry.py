"""What the audit records: the models whose changes finance must be able to explain.

Each entry names a model by label. By default every insert, update and delete is
recorded; `watch` limits updates to changes of those fields (and turns inserts off
with `insert=False`), `ignore` names fields whose change alone is not worth a record
(timestamps, counters), and `frozen` names fields the database refuses to change
once the row exists (who a record belongs to). Triggers are rebuilt from this list
after each `migrate`.

`formerly` names the labels a model was recorded under before it moved app (its
older records keep them: they are never rewritten), so its trail still shows them.

A label with a field, `app.Model.field`, names a many-to-many field: its links (the
rows of its through table) are recorded as they are added and removed (and updated,
which only raw SQL does), under that label, with the owning row's id as the object
id (so a gift's trail shows its regions) and the link row, e.g. {id, gift_id,
region_id}, before or after. A link entry takes no `watch`, `ignore` or `insert`.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models


@dataclass(frozen=True)
class Audited:
    label: str
    watch: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    insert: bool = True
    frozen: tuple[str, ...] = ()
    formerly: tuple[str, ...] = ()


AUDITED = (
    # Prices, bundles and what regional prices are derived from.
    Audited("catalog.Gift", ignore=("updated_at",)),
    Audited("catalog.GiftPriceChange"),
    Audited("catalog.Region", ignore=("updated_at",)),
    Audited("catalog.CoinBundle", ignore=("updated_at",)),
    Audited("catalog.BundlePrice"),
    Audited("exchange.Rate"),
    Audited("wallets.Promotion"),
    # Where a gift is offered and a promotion's bonus coins are given.
    Audited("catalog.Gift.regions"),
    Audited("wallets.Promotion.regions"),
    # Spending rules.
    Audited("wallets.SpendingLimit"),
    Audited("wallets.SpendingLimitOverride", ignore=("updated_at",)),
    # Where a user buys and gifts from: which limits and region-only gifts apply.
    Audited("wallets.HomeRegion"),
    # Shares: a level's share, and which level (or pin, or suspension) a creator has;
    # the payout destination is here too. Follower counts change all day. Who a
    # creator is never changes: their diamonds and gifts would follow a new owner.
    Audited("gifting.CreatorLevel", formerly=("payouts.CreatorLevel",)),
    Audited(
        "gifting.CreatorProfile",
        ignore=("follower_count",),
        frozen=("user",),
        formerly=("payouts.CreatorProfile",),
    ),
    Audited("payouts.PayoutMethodChange", frozen=("creator", "creator_user")),
    # How long gifts' diamonds are held: a change is a new row, never an edit.
    Audited(
        "gifting.EarningsHold",
        frozen=("region", "days", "effective_from", "reason", "set_by", "set_at"),
    ),
    # Rates, rules and payout states.
    Audited("payouts.DiamondCashRate"),
    Audited("payouts.PayoutRules"),
    Audited("payouts.Payout", ignore=("updated_at",)),
    # Refunds only: a purchase is its own record and the ledger's; spending draws
    # its lot down (`paid_coins_remaining`) on every gift, which is not a change.
    # Its `promotions` links are written once, with the purchase: not audited either.
    Audited(
        "wallets.Purchase",
        watch=(
            "status",
            "refunded_at",
            "refunded_by",
            "refund_source",
            "refund_reason",
        ),
        insert=False,
    ),
    Audited("wallets.BalanceAdjustment"),
    # Who set which refund terms for a region, and every buyer's request and its
    # decision (issue 17); a request belongs to its buyer and purchase for good.
    Audited("wallets.RefundRule"),
    Audited("wallets.RefundRequest", frozen=("purchase", "user")),
    # Sponsored gifts (issue 17): what a campaign pays, where, and the money behind
    # its budget; who recorded a funding never changes (four eyes rest on it).
    Audited("gifting.SponsorCampaign"),
    Audited("gifting.SponsorCampaign.regions"),
    Audited("gifting.SponsorFunding", frozen=("requested_by", "campaign", "coins")),
    Audited(
        "wallets.UnrecoveredStoreRefund", ignore=("notifications", "last_received_at")
    ),
    # Who took the books away as a file, and which days (issue 17).
    Audited("reports.BooksExport", frozen=("actor",)),
    # Who took an admin list (payouts, purchases, gift sends, transfers) away as a
    # file, filtered how (issue 17).
    Audited("core.ListExport", frozen=("actor",)),
    # Export jobs (who asked, what range; not each progress step) and who
    # asked for and downloaded each file.
    Audited(
        "reports.Export",
        ignore=("progress", "heartbeat_at"),
        frozen=("requested_by", "what", "first_day", "last_day", "format"),
    ),
    Audited("reports.ExportEvent", frozen=("export", "actor", "action")),
    # Creators join (issue 18): who may call as the platform, the rules that let
    # users in, and each application's decision and who took it. The platform's
    # facts change all day (like follower counts): not audited, only the latest.
    Audited("accounts.ServiceToken", frozen=("name", "scope", "key_hash")),
    Audited(
        "gifting.EligibilityRule",
        frozen=(
            "region",
            "min_age",
            "min_followers",
            "review_all",
            "facts_max_age_days",
            "effective_from",
            "reason",
            "set_by",
            "set_at",
        ),
    ),
    Audited("gifting.CreatorApplication", frozen=("user", "created_at")),
    # A subscription charge's refund: who asked, who granted (four eyes rest on
    # both), what it moved. What it refunds and who asked never change.
    Audited(
        "subscriptions.ChargeRefund",
        frozen=("charge", "requested_by", "requested_at", "reason", "window_ends_at"),
    ),
)


@dataclass(frozen=True)
class AuditedTable:
    """One audited model (or many-to-many field) resolved to its table and columns."""

    label: str
    table: str
    # The column recorded as the object id: the primary key; a link's owner's id.
    pk: str
    insert: bool
    # Columns whose change makes an update worth a record; None: any column.
    watch: frozenset[str] | None
    ignore: frozenset[str] = field(default_factory=frozenset)
    frozen: frozenset[str] = field(default_factory=frozenset)


def _columns(model, names: tuple[str, ...], label: str) -> frozenset[str]:
    columns = set()
    for name in names:
        try:
            columns.add(model._meta.get_field(name).column)
        except Exception as error:
            raise ImproperlyConfigured(
                f"audit.registry: {label} has no field {name!r}."
            ) from error
    return frozenset(columns)


def link_field(label: str) -> models.ManyToManyField | None:
    """The many-to-many field an `app.Model.field` label names; None for a model."""
    model_label, _, name = label.rpartition(".")
    if model_label.count(".") != 1:
        return None
    try:
        field = apps.get_model(model_label)._meta.get_field(name)
    except (LookupError, FieldDoesNotExist) as error:
        raise ImproperlyConfigured(
            f"audit.registry: {label} is not an installed model's field."
        ) from error
    if not isinstance(field, models.ManyToManyField):
        raise ImproperlyConfigured(
            f"audit.registry: {label} is not a many-to-many field."
        )
    return field


def labels_of(label: str) -> list[str]:
    """Every label a model's records carry: its own and those from before a move."""
    for entry in AUDITED:
        if entry.label == label:
            return [label, *entry.formerly]
    return [label]


def current_label(label: str) -> str:
    """The label `label`'s model has now: records keep the one they were made under."""
    for entry in AUDITED:
        if label in entry.formerly:
            return entry.label
    return label


def row_model(label: str):
    """The model whose rows a record of `label` holds (a link's through model)."""
    label = current_label(label)
    try:
        field = link_field(label)
        return field.remote_field.through if field else apps.get_model(label)
    except (ImproperlyConfigured, LookupError, ValueError):
        return None


def _links(entry: Audited, field: models.ManyToManyField) -> AuditedTable:
    if entry.watch or entry.ignore or entry.frozen or not entry.insert:
        raise ImproperlyConfigured(
            f"audit.registry: {entry.label} is a link; it takes no watch, ignore, "
            "frozen or insert."
        )
    return AuditedTable(
        label=f"{field.model._meta.label}.{field.name}",
        table=field.remote_field.through._meta.db_table,
        pk=field.m2m_column_name(),
        insert=True,
        watch=None,
    )


def audited_tables() -> list[AuditedTable]:
    tables = []
    for entry in AUDITED:
        field = link_field(entry.label)
        if field is not None:
            tables.append(_links(entry, field))
            continue
        try:
            model = apps.get_model(entry.label)
        except LookupError as error:
            raise ImproperlyConfigured(
                f"audit.registry: {entry.label} is not an installed model."
            ) from error
        tables.append(
            AuditedTable(
                label=model._meta.label,
                table=model._meta.db_table,
                pk=model._meta.pk.column,
                insert=entry.insert,
                watch=_columns(model, entry.watch, entry.label)
                if entry.watch
                else None,
                ignore=_columns(model, entry.ignore, entry.label),
                frozen=_columns(model, entry.frozen, entry.label),
            )
        )
    return tables
