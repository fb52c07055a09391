"""`UnfilterableFieldsMixin`: the declared fields, and anything under them, are never
a filter from the address; every other lookup is Django's to allow."""

import pytest
from django.contrib import admin

from core.admin import UnfilterableFieldsMixin
from core.models import ListExport


class _Admin(UnfilterableFieldsMixin, admin.ModelAdmin):
    unfilterable_fields = ("query", "actor__email")


@pytest.mark.parametrize(
    ("lookup", "allowed"),
    [
        ("query", False),
        ("query__startswith", False),
        ("query__iexact", False),
        ("actor__email__startswith", False),
        ("rows__gte", True),
        ("format__exact", True),
        ("queryset", True),  # another name that only starts alike
        ("actor__emails", True),
    ],
)
def test_only_the_declared_paths_are_refused(lookup, allowed):
    assert _Admin(ListExport, admin.site).lookup_allowed(lookup, "x", None) is allowed
