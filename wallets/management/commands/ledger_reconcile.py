from django.core.management.base import BaseCommand, CommandError

from wallets.reconciliation import ledger_reconcile


class Command(BaseCommand):
    help = "Check the ledger's invariants; exits non-zero when any is broken."

    def handle(self, *args, **options):
        run = ledger_reconcile()
        for problem in run.problems:
            self.stderr.write(problem)
        summary = (
            f"{run.transfers_checked} transfers, "
            f"{run.accounts_checked} accounts checked"
        )
        if not run.is_clean:
            raise CommandError(
                f"Ledger mismatch: {len(run.problems)} problem(s); {summary}."
            )
        self.stdout.write(f"Ledger clean: {summary}.")
