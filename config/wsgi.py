import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # A configuration mistake is one line for the operator, not a traceback.
    sys.exit(f"ImproperlyConfigured: {exc}")
