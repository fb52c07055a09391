import os
import socket
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.servers import basehttp
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# runserver (`make run`) loads this module before it listens. Its listen queue holds
# 10 connections: a burst of 40 clients had the rest reset by the kernel.
basehttp.WSGIServer.request_queue_size = socket.SOMAXCONN

try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # A configuration mistake is one line for the operator, not a traceback.
    sys.exit(f"ImproperlyConfigured: {exc}")
