from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import demo_users_create


class Command(BaseCommand):
    help = "Create demo staff logins (one per role) and demo client users with tokens."

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin-url",
            default="http://127.0.0.1:8000/admin/",
            help="Where the admin is served, to print beside the logins.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "Demo logins have published passwords; refused with DJANGO_DEBUG=0."
            )
        self.stdout.write(f"Demo logins (admin at {options['admin_url']}):")
        for login in demo_users_create():
            line = f"  {login['role']:<24} {login['username']:<8} / {login['password']}"
            if "token" in login:
                line += f"   API token: {login['token']}"
            self.stdout.write(line)
