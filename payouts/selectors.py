import datetime

from django.utils import timezone

from gifting.models import CreatorProfile
from gifting.selectors import creators_recent_earnings
from wallets.selectors import manual_diamond_credits
from wallets.units import diamonds_display

from .models import DiamondCashRate, PayoutMethodChange, PayoutRules


def payout_risk_flags(
    *,
    payout,
    earned_30_units: int,
    earned_7_units: int,
    top_sender_30_units: int,
    cooloff_days: int,
    manual_30_units: int = 0,
    method_change_pending: bool = False,
):
    """What a finance reviewer should look at twice before approving.

    `earned_30_units` and `earned_7_units` count diamonds credited by hand
    (`manual_30_units` of them in 30 days) like earned ones.
    """
    now = timezone.now()
    flags = []
    if (now - payout.creator.user.date_joined).days < 30:
        flags.append("new creator")
    if manual_30_units:
        flags.append(
            f"{diamonds_display(manual_30_units)} diamonds credited by hand in 30 days"
        )
    # A spike: the last week's daily average over twice the month's.
    if earned_30_units and earned_7_units / 7 > 2 * earned_30_units / 30:
        flags.append("earnings spike")
    if earned_30_units and top_sender_30_units * 2 > earned_30_units:
        flags.append("most earnings from one sender")
    changed = payout.creator.payout_method_changed_at
    if changed and now - changed < datetime.timedelta(days=cooloff_days):
        flags.append("payout method changed recently")
    if method_change_pending:
        flags.append("method change pending")
    return flags


def destination_masked(value: str) -> str:
    """An e-mail or IBAN enough to recognise, not to use: j***@example.com,
    DE89 **** **** 3000."""
    if not value:
        return "—"
    if "@" in value:
        name, _, domain = value.rpartition("@")
        return f"{name[:1]}***@{domain}"
    return f"{value[:4]} **** **** {value[-4:]}" if len(value) > 8 else "****"


def payout_rules(*, currency: str) -> PayoutRules | None:
    return PayoutRules.objects.filter(currency=currency).first()


def payout_method_cooloff_ends(
    *, creator: CreatorProfile, currency: str = "USD"
) -> datetime.datetime | None:
    """When payouts may go to the creator's current method; None: never changed."""
    if creator.payout_method_changed_at is None:
        return None
    rules = payout_rules(currency=currency)
    days = rules.method_cooloff_days if rules else 0
    return creator.payout_method_changed_at + datetime.timedelta(days=days)


def payout_method_pending(*, creator_ids) -> dict[int, PayoutMethodChange]:
    """Each of these creators' change waiting for confirmation (one at most)."""
    return {
        change.creator_id: change
        for change in PayoutMethodChange.objects.filter(
            creator_id__in=list(creator_ids),
            status=PayoutMethodChange.Status.REQUESTED,
        )
    }


def cash_rate_current(*, currency: str, when) -> DiamondCashRate | None:
    """The rate in force at `when`: the latest effective by then (of two set for
    the same moment, the later added)."""
    return (
        DiamondCashRate.objects.filter(currency=currency, effective_at__lte=when)
        .order_by("-effective_at", "-id")
        .first()
    )


def payouts_risk_attach(payouts) -> None:
    """Set earned_30_units, earned_7_units, top_sender_30_units, manual_30_units,
    cooloff_days and method_change_pending on each payout, in five queries however
    many payouts (what `payout_risk_flags` reads, for a page of the approval queue)."""
    payouts = list(payouts)
    if not payouts:
        return
    now = timezone.now()
    creators = {payout.creator_id for payout in payouts}
    earnings = creators_recent_earnings(creator_ids=creators, now=now)
    # Diamonds credited by hand count like earned ones, finance as one more sender.
    user_ids = {payout.creator.user_id for payout in payouts}
    manual_30_units = manual_diamond_credits(
        user_ids=user_ids, since=now - datetime.timedelta(days=30)
    )
    manual_7_units = manual_diamond_credits(
        user_ids=user_ids, since=now - datetime.timedelta(days=7)
    )
    cooloff = dict(PayoutRules.objects.values_list("currency", "method_cooloff_days"))
    pending = payout_method_pending(creator_ids=creators)
    for payout in payouts:
        payout.method_change_pending = payout.creator_id in pending
        gifts_30, gifts_7, top_sender = earnings.get(payout.creator_id, (0, 0, 0))
        payout.manual_30_units = manual_30_units.get(payout.creator.user_id, 0)
        payout.earned_30_units = gifts_30 + payout.manual_30_units
        payout.earned_7_units = gifts_7 + manual_7_units.get(payout.creator.user_id, 0)
        payout.top_sender_30_units = max(top_sender, payout.manual_30_units)
        payout.cooloff_days = cooloff.get(payout.currency)
