import io
import json

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from bench import checks
from bench.peer import hordak_check
from wallets.models import Transfer


def _reconcile() -> dict:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger_reconcile", stdout=out, stderr=err)
    except CommandError as error:
        return {"clean": False, "output": f"{err.getvalue()}{error}".strip()}
    return {"clean": True, "output": out.getvalue().strip()}


class Command(BaseCommand):
    help = (
        "Benchmark only: run ledger_reconcile and check every creator's diamonds and "
        "every sender's coins against the gift sends, and the peer scenario's hordak "
        "accounts; then fold pending credits (as the beat task does) and check "
        "again. Prints the findings as JSON."
    )

    def handle(self, *args, **options):
        result = {
            "transfers": Transfer.objects.count(),
            "ledger_reconcile": _reconcile(),
            "diamonds": checks.diamonds_check(),
            "coins": checks.coins_check(),
            "hordak": hordak_check(),
        }
        fold = checks.pending_fold()
        result["after_fold"] = {
            "fold": fold,
            "ledger_reconcile": _reconcile(),
            "diamonds": checks.diamonds_check(),
        }
        self.stdout.write(json.dumps(result))
