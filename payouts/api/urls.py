from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    CreatorEarningsView,
    CreatorGiftListView,
    CreatorPayoutMethodView,
    GiftSendCreateView,
    LeaderboardView,
    PayoutViewSet,
    ProviderCallbackView,
)

router = SimpleRouter()
router.register("payouts", PayoutViewSet, basename="payout")

urlpatterns = [
    path("gift-sends/", GiftSendCreateView.as_view(), name="gift-send-create"),
    path(
        "streams/<str:stream_id>/leaderboard/",
        LeaderboardView.as_view(),
        name="stream-leaderboard",
    ),
    path("creator/earnings/", CreatorEarningsView.as_view(), name="creator-earnings"),
    path("creator/gifts/", CreatorGiftListView.as_view(), name="creator-gifts"),
    path(
        "creator/payout-method/",
        CreatorPayoutMethodView.as_view(),
        name="creator-payout-method",
    ),
    path(
        "payouts/provider-callback/",
        ProviderCallbackView.as_view(),
        name="payout-provider-callback",
    ),
    *router.urls,
]
