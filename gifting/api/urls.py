from django.urls import path

from .views import CreatorGiftListView, GiftSendCreateView, LeaderboardView

urlpatterns = [
    path("gift-sends/", GiftSendCreateView.as_view(), name="gift-send-create"),
    path(
        "streams/<str:stream_id>/leaderboard/",
        LeaderboardView.as_view(),
        name="stream-leaderboard",
    ),
    path("creator/gifts/", CreatorGiftListView.as_view(), name="creator-gifts"),
]
