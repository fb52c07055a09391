from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core.admin import EstimatedCountPaginator, ReadOnlyAdminMixin
from wallets.units import diamonds_display

from .models import CreatorLevel, GiftSend

# The creator screen is registered in payouts/admin.py: beside levels and gifts it
# shows where the creator is paid and the method changes waiting for a decision.


@admin.register(CreatorLevel)
class CreatorLevelAdmin(SimpleHistoryAdmin):
    list_display = ("number", "name", "min_diamonds_30d", "share_percent")
    list_editable = ("min_diamonds_30d", "share_percent")
    ordering = ("number",)

    def has_delete_permission(self, request, obj=None):
        # Creators and past gift sends point at levels; retire a level by editing it.
        return False


@admin.register(GiftSend)
class GiftSendAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "sender",
        "creator",
        "gift",
        "quantity",
        "coins",
        "share_percent",
        "creator_diamonds",
        "stream_id",
    )
    list_filter = ("gift", "placement", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("sender", "creator", "gift")
    search_fields = (
        "=stream_id",
        "=video_id",
        "=sender__username",
        "creator__display_name",
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="Creator diamonds")
    def creator_diamonds(self, send):
        return diamonds_display(send.creator_diamond_units)
