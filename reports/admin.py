from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from core.admin import ReadOnlyAdminMixin

from . import selectors
from .charts import bar_chart
from .models import MoneyDashboard


@admin.register(MoneyDashboard)
class MoneyDashboardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Coins sold, gifts, diamonds owed, payouts and reconciliation, at a glance."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        figures = selectors.money_dashboard()
        return TemplateResponse(
            request,
            "admin/reports/money_dashboard.html",
            {
                **self.admin_site.each_context(request),
                "title": "Money dashboard",
                "opts": self.model._meta,
                "figures": figures,
                "charts": [
                    bar_chart(f"Coins sold per day, {series.label}", series, money=True)
                    for series in figures["coins_sold"]
                ]
                + [bar_chart("Gifts sent per day, in coins", figures["gifts_sent"])],
            },
        )
