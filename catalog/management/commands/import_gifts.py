from catalog import imports

from ._import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Add and update gifts from a CSV file with the export's columns (matched on "
        "slug), all or nothing, in bounded memory."
    )
    importer = staticmethod(imports.gifts_import)
