import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from accounts.models import User
from catalog.models import CoinBundle, Region
from wallets.models import Purchase
from wallets.stores import SANDBOX_OUTCOMES, SandboxStore, sandbox_receipt


class Command(BaseCommand):
    help = (
        "Print a signed sandbox store receipt for a user and a bundle, as the client "
        "app would get it from the store (development and staging only)."
    )

    def add_arguments(self, parser):
        # Checked in handle, not by argparse: every mistake is one clear line.
        parser.add_argument("--user", help="username of the buyer")
        parser.add_argument("--sku", help="the bundle's store product, e.g. coins_100")
        parser.add_argument("--txn", help="store transaction id (default: a new one)")
        parser.add_argument(
            "--outcome",
            default="accept",
            help=f"what the sandbox store does: {', '.join(SANDBOX_OUTCOMES)}",
        )
        parser.add_argument(
            "--store",
            default="apple",
            help="the only store that honours it: apple, google or web "
            "(default: apple)",
        )
        parser.add_argument(
            "--storefront",
            help="the region it was bought in, e.g. US: then only a purchase there "
            "credits it (default: the store does not say)",
        )

    def handle(self, *args, **options):
        username, sku = options["user"], options["sku"]
        if not username or not sku:
            raise CommandError("Give --user <username> and --sku <sku>.")
        outcome, store = options["outcome"], options["store"]
        if outcome not in SANDBOX_OUTCOMES:
            raise CommandError(
                f"Unknown --outcome {outcome!r}; use {', '.join(SANDBOX_OUTCOMES)}."
            )
        if store not in Purchase.Store.values:
            raise CommandError(
                f"Unknown --store {store!r}; use {', '.join(Purchase.Store.values)}."
            )
        if not issubclass(import_string(settings.PAYMENT_STORES[store]), SandboxStore):
            # The real store would refuse the receipt: better to say so now.
            raise CommandError(f"The {store} store here is not the sandbox.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not CoinBundle.objects.filter(sku=sku).exists():
            raise CommandError(f"No bundle with sku {sku!r}.")
        txn = options["txn"] or f"sandbox-{uuid.uuid4().hex}"
        storefront = options["storefront"]
        if (
            storefront is not None
            and not Region.objects.filter(code=storefront).exists()
        ):
            raise CommandError(f"No region {storefront!r} for --storefront.")
        try:
            receipt = sandbox_receipt(
                user.id, sku, txn, outcome, store=store, storefront=storefront
            )
        except ValueError as error:
            raise CommandError(f"Bad --txn: {error}.") from None
        self.stdout.write(receipt)
