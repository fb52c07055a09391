from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html

from ..registry import AUDITED

register = template.Library()
_AUDITED_LABELS = {entry.label for entry in AUDITED}


@register.simple_tag(takes_context=True)
def audit_trail_link(context, opts, original):
    """An "Audit trail" button on an audited row's admin page, for who may read it."""
    request = context.get("request")
    if (
        original is None
        or opts.label not in _AUDITED_LABELS
        or request is None
        or not request.user.has_perm("audit.view_auditrecord")
    ):
        return ""
    query = urlencode({"model": opts.label, "q": original.pk})
    url = reverse("admin:audit_auditrecord_changelist")
    return format_html('<li><a href="{}?{}">Audit trail</a></li>', url, query)
