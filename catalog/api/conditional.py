import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag


class ConditionalGetMixin:
    """ETag from the response data, and 304 Not Modified when the client has it.

    The tag hashes what the client would receive, so anything that changes the
    answer (a price, a window opening, a region) changes the tag.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        if request.method in ("GET", "HEAD") and response.status_code == 200:
            body = json.dumps(response.data, sort_keys=True, cls=DjangoJSONEncoder)
            etag = quote_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
            response["ETag"] = etag
            patch_cache_control(response, no_cache=True)
            not_modified = get_conditional_response(
                request, etag=etag, response=response
            )
            if not_modified is not response:
                response = not_modified
                response["ETag"] = etag
                patch_cache_control(response, no_cache=True)
        return super().finalize_response(request, response, *args, **kwargs)
