from django.core.management.base import BaseCommand, CommandError

from accounts.models import ServiceToken
from accounts.services import service_token_create
from core.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Create a service token for another service (the main platform) and print "
        "its key once: only its hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Which service calls with it.")
        parser.add_argument(
            "--scope",
            default=ServiceToken.Scope.ACCOUNT_FACTS,
            choices=ServiceToken.Scope.values,
        )

    def handle(self, *args, **options):
        try:
            token, key = service_token_create(
                name=options["name"], scope=options["scope"]
            )
        except ServiceError as refusal:
            raise CommandError(refusal.message) from None
        self.stderr.write(
            f"Service token {token.name!r} ({token.scope}) created; the key is "
            "shown only now:"
        )
        self.stdout.write(key)
