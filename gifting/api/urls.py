from django.urls import path

from .views import (
    CreatorGiftListView,
    CreatorLeaderboardView,
    GifterLevelView,
    GiftSendCreateView,
    LeaderboardView,
)

urlpatterns = [
    path("gift-sends/", GiftSendCreateView.as_view(), name="gift-send-create"),
    path(
        "streams/<str:stream_id>/leaderboard/",
        LeaderboardView.as_view(),
        name="stream-leaderboard",
    ),
    path(
        "creators/<int:creator_id>/leaderboard/",
        CreatorLeaderboardView.as_view(),
        name="creator-leaderboard",
    ),
    path("me/gifter-level/", GifterLevelView.as_view(), name="gifter-level"),
    path("creator/gifts/", CreatorGiftListView.as_view(), name="creator-gifts"),
]
