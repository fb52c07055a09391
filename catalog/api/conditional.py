import datetime
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from rest_framework.response import Response


def etag_of(data, variant: str = "") -> str:
    """A tag of the answer: its data and the variant (the language) it is in, so
    two languages never share a tag even where their data happen to agree."""
    tagged = [variant, data] if variant else data
    body = json.dumps(tagged, sort_keys=True, cls=DjangoJSONEncoder)
    return quote_etag(hashlib.sha256(body.encode()).hexdigest()[:32])


class AnswerCache:
    """Whole answers of the public catalog, kept in this process for a few seconds.

    Every client asks for the same few lists all the time, and each answer costs
    several queries and a serialization. An answer is kept for at most
    `CATALOG_CACHE_SECONDS` and never past the next moment it changes by itself (a
    gift's window or a sponsor campaign opening or closing); a catalog write in this
    process forgets everything at once (`catalog.signals`). Bounded, so odd query
    strings cannot grow it.
    """

    def __init__(self, max_entries: int = 512):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[object, str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, data, etag = entry
            # The clock the answers are computed with, so a window edge is exact.
            if timezone.now() >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return data, etag

    def put(self, key: tuple, data, etag: str, seconds: float) -> None:
        with self._lock:
            expires = timezone.now() + datetime.timedelta(seconds=seconds)
            self._entries[key] = (expires, data, etag)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


answers = AnswerCache()


class ConditionalGetMixin:
    """ETag from the response data, and 304 Not Modified when the client has it.

    The tag hashes what the client would receive, so anything that changes the
    answer (a price, a window opening, a region, the language) changes the tag.
    Lists are answered from `answers` while they are fresh (`cached_list`).
    """

    def answer_variant(self) -> str:
        """What besides the URL picks the answer (a language), from a small set."""
        return ""

    def cached_list(self, request, build: Callable[[], Response]) -> Response:
        key = (
            type(self).__name__,
            request.get_host(),
            request.get_full_path(),
            self.answer_variant(),
        )
        hit = answers.get(key)
        if hit is not None:
            data, etag = hit
            response = Response(data)
            response.etag = etag
            return response
        now = timezone.now()
        response = build()
        if response.status_code == 200:
            response.etag = etag_of(response.data, self.answer_variant())
            seconds = settings.CATALOG_CACHE_SECONDS
            next_change = self.next_change_after(now)
            if next_change is not None:
                seconds = min(seconds, (next_change - now).total_seconds())
            if seconds > 0:
                answers.put(key, response.data, response.etag, seconds)
        return response

    def next_change_after(self, now):
        """The next moment this view's answers change without a write, or None."""
        return None

    def finalize_response(self, request, response, *args, **kwargs):
        if request.method in ("GET", "HEAD") and response.status_code == 200:
            etag = getattr(response, "etag", None) or etag_of(
                response.data, self.answer_variant()
            )
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
