import datetime

from django.utils import timezone

from gifting.models import CreatorProfile
from gifting.selectors import diamonds

from .models import DiamondCashRate, PayoutMethodChange, PayoutRules


def payout_risk_flags(
    *,
    payout,
    earned_30: int,
    earned_7: int,
    top_sender_30: int,
    cooloff_days: int,
    manual_30: int = 0,
    method_change_pending: bool = False,
):
    """What a finance reviewer should look at twice before approving.

    `earned_30` and `earned_7` count diamonds credited by hand (`manual_30` of them
    in 30 days) like earned ones.
    """
    now = timezone.now()
    flags = []
    if (now - payout.creator.user.date_joined).days < 30:
        flags.append("new creator")
    if manual_30:
        flags.append(f"{diamonds(manual_30):,.4f} diamonds credited by hand in 30 days")
    # A spike: the last week's daily average over twice the month's.
    if earned_30 and earned_7 / 7 > 2 * earned_30 / 30:
        flags.append("earnings spike")
    if earned_30 and top_sender_30 * 2 > earned_30:
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
