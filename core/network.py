"""The client's address, as far as this deployment can vouch for it.

Behind the TLS proxy the README deploys, every request's REMOTE_ADDR is the
proxy's: the login lock-out would count every client's failures as one address's
(twenty wrong passwords from anyone would lock everyone out), and the logs would
show one address. Each proxy appends the address it saw to X-Forwarded-For, so
with `TRUSTED_PROXY_COUNT` proxies in front, the entry that many places from the
right is the client as the first of them saw it. Everything left of it came from
the client and is not believed: a forged header neither escapes a lock-out nor
lands in a log. Without trusted proxies the connection's own address is the
client's.
"""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address: one rule for the login lock-out and the logs."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXY_COUNT
    if not hops:
        return remote
    forwarded = [
        hop.strip()
        for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if hop.strip()
    ]
    if len(forwarded) < hops:
        # Not through every proxy (a request straight to a web process).
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote
