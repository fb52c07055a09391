"""Where exchange rates come from: djmoney's exchange app and a backend in settings."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from djmoney import settings as money_settings
from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.models import ExchangeBackend

from core import display


class StaffRatesBackend(BaseExchangeBackend):
    """Rates that catalog staff keep by hand under *Exchange rates* in the admin.

    There is nothing to fetch: refreshing only makes sure the backend exists, so
    staff can add rates to it.
    """

    name = "staff"

    def update_rates(self, base_currency=money_settings.BASE_CURRENCY, **kwargs):
        ExchangeBackend.objects.get_or_create(
            name=self.name, defaults={"base_currency": base_currency}
        )


def exchange_backend_class() -> type[BaseExchangeBackend]:
    """The backend `EXCHANGE_BACKEND` names, e.g. djmoney's OpenExchangeRatesBackend."""
    try:
        return import_string(settings.EXCHANGE_BACKEND)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"EXCHANGE_BACKEND must be the dotted path of an exchange backend "
            f"(got {settings.EXCHANGE_BACKEND!r}: {error})."
        ) from None


def rate_str(rate) -> str:
    """How a rate names itself (djmoney's `Rate` has no `__str__`: "Rate object
    (3)"): "1 USD = 150 JPY (staff)"."""
    base = rate.backend.base_currency if rate.backend_id else "?"
    return f"1 {base} = {display.rate(rate.value)} {rate.currency} ({rate.backend_id})"
