from django.db import transaction

from .models import ListExport


def list_export_record(
    *, actor, list_label: str, query: str, rows: int, file_format: str
) -> ListExport:
    """Put on record that `actor` takes `rows` rows of a list, filtered by `query`,
    away as a file; the audit records who (its trigger reads the request's actor)."""
    with transaction.atomic():
        return ListExport.objects.create(
            actor=actor,
            list_label=list_label,
            query=query,
            rows=rows,
            format=file_format,
        )
