from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core import display
from core.admin import (
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    column,
    numbered_when,
    truncated,
)

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
    # Who gave what to whom fits beside the menu and filters; the share, the
    # platform's part and where it was sent are on the gift send's page.
    list_display = (
        "when",
        "sender_short",
        "creator_short",
        "gift_line",
        "coins_shown",
        "creator_diamonds",
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
    fields = (
        "created_at",
        "sender",
        "creator",
        "gift_line",
        "coin_price_shown",
        "coins_shown",
        "share_percent",
        "creator_diamonds",
        "platform_diamonds",
        "placement",
        "stream_id",
        "video_id",
        "comment",
        "idempotency_key",
    )
    readonly_fields = fields

    sender_short = column(
        "sender", description="Sender", ordering="sender__username", width="9em"
    )
    creator_short = column(
        "creator",
        description="Creator",
        ordering="creator__display_name",
        width="10em",
    )
    coins_shown = column("coins", display.coins, description="Coins", ordering="coins")
    creator_diamonds = column(
        "creator_diamond_units",
        display.diamonds,
        description="Diamonds earned",
        ordering="creator_diamond_units",
    )
    platform_diamonds = column(
        "platform_diamond_units", display.diamonds, description="Platform diamonds"
    )

    @admin.display(description="Gift send, when", ordering="created_at")
    def when(self, send):
        return numbered_when(send, send.created_at)

    @admin.display(description="Gift")
    def gift_line(self, send):
        return truncated(f"{display.coins(send.quantity)} × {send.gift.name}", "10em")

    @admin.display(description="Coin price")
    def coin_price_shown(self, send):
        return f"{display.coins(send.coin_price, unit='coin')} each, as stamped"
