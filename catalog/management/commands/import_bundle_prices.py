from catalog import imports

from ._import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Add hand-set bundle prices from a CSV file with the export's columns, all or "
        "nothing, in bounded memory."
    )
    importer = staticmethod(imports.bundle_prices_import)
