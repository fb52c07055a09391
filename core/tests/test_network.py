"""The client's address behind the proxies (core/network.py)."""

import pytest
from django.test import RequestFactory

from core.network import client_ip


def request(remote="10.0.0.5", forwarded=None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)


def test_without_trusted_proxies_a_forwarded_header_is_not_believed(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request(forwarded="198.51.100.7")) == "10.0.0.5"


@pytest.mark.parametrize(
    ("hops", "forwarded", "client"),
    [
        # The proxy appended the address it saw: the client.
        (1, "203.0.113.9", "203.0.113.9"),
        # What the client wrote itself sits to the left, and is ignored.
        (1, "1.2.3.4, 203.0.113.9", "203.0.113.9"),
        (1, "1.2.3.4,203.0.113.9 ", "203.0.113.9"),
        # A load balancer, then the TLS proxy (which appended the balancer's).
        (2, "1.2.3.4, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_behind_trusted_proxies_the_client_is_the_first_proxys_peer(
    settings, hops, forwarded, client
):
    settings.TRUSTED_PROXY_COUNT = hops

    assert client_ip(request(forwarded=forwarded)) == client


@pytest.mark.parametrize(
    ("hops", "forwarded"),
    [
        # Straight to a web process, past the proxies.
        (1, None),
        (1, ""),
        (2, "203.0.113.9"),
        # Not an address.
        (1, "unknown"),
        (1, "203.0.113.9, <script>"),
    ],
)
def test_a_header_that_cannot_be_the_proxies_falls_back_to_the_connection(
    settings, hops, forwarded
):
    settings.TRUSTED_PROXY_COUNT = hops

    assert client_ip(request(forwarded=forwarded)) == "10.0.0.5"
