import structlog
from django.utils.cache import patch_cache_control
from django_structlog.middlewares import RequestMiddleware

from .logs import REQUEST_ID_HEADER, current_request, request_id_sane
from .network import client_ip

API_PREFIX = "/api/v1/"


class PrivateApiAnswersMiddleware:
    """API answers are personal unless their view says otherwise: a wallet, a token
    or a purchase is never stored by a browser, a proxy or a CDN.

    A view that sets its own `Cache-Control` keeps it (the public catalog
    revalidates with its ETag); every other API answer, errors included, is
    `private, no-store`, so a new personal endpoint is covered without a word.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and not response.has_header(
            "Cache-Control"
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's request logging, with the request id checked and answered.

    An `X-Request-ID` from the proxy is kept when it is sane (core.logs), else a new
    one is made; either way the answer carries it, so a client or a proxy can quote
    it. Placed right after the health probes, which it leaves alone: everything
    else, a refused host or a CSRF failure included, is logged with its id, and
    with the client's address as core.network.client_ip finds it.
    """

    def prepare(self, request):
        request.META["HTTP_X_REQUEST_ID"] = request_id_sane(
            request.META.get("HTTP_X_REQUEST_ID")
        )
        # `request.headers` is read once; nothing before this middleware read it.
        request.__dict__.pop("headers", None)
        request._log_context_token = current_request.set(request)
        structlog.contextvars.bind_contextvars(ip=client_ip(request))
        super().prepare(request)

    def handle_response(self, request, response):
        response[REQUEST_ID_HEADER] = request.META["HTTP_X_REQUEST_ID"]
        try:
            super().handle_response(request, response)
        finally:
            current_request.reset(request._log_context_token)
