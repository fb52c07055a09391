from django.utils.cache import patch_cache_control

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
