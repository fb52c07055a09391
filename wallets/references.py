"""What a transfer's reference names, and the admin page that shows it.

The ledger writes the references (`wallets/ledger.py`): `purchase:<purchase id>`,
`gift:<gift send id>`, `payout:<payout id>` and `adjustment:<user id>` (whose
balance was adjusted: the link is that user's adjustments).
"""

from django.urls import reverse
from django.utils.html import format_html

# prefix -> (admin URL name, the permission that opens it, the changelist filter
# the id goes to, or None for the row's own page)
_PAGES = {
    "purchase": ("admin:wallets_purchase_change", "wallets.view_purchase", None),
    "gift": ("admin:gifting_giftsend_change", "gifting.view_giftsend", None),
    "payout": ("admin:payouts_payout_change", "payouts.view_payout", None),
    "adjustment": (
        "admin:wallets_balanceadjustment_changelist",
        "wallets.view_balanceadjustment",
        "user__id__exact",
    ),
}


def reference_url(reference: str, *, user) -> str | None:
    """The admin page `reference` names, or None: no such page, or `user` may not
    open it (a link to a 403 is a dead end)."""
    prefix, _, object_id = reference.partition(":")
    page = _PAGES.get(prefix)
    if page is None or not (object_id.isascii() and object_id.isdigit()):
        return None
    url_name, permission, filter_by = page
    if not user.has_perm(permission):
        return None
    if filter_by is not None:
        return f"{reverse(url_name)}?{filter_by}={object_id}"
    return reverse(url_name, args=[object_id])


def reference_link(reference: str, *, user) -> str:
    """The reference as a link to what it names, or as text where there is none."""
    url = reference_url(reference, user=user)
    if url is None:
        return reference or "—"
    return format_html('<a href="{}">{}</a>', url, reference)
