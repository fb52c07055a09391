from django.urls import path

from .creators import (
    AccountFactsBatchView,
    AccountFactsView,
    ApplicationListCreateView,
)
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
    path(
        "creator/applications/",
        ApplicationListCreateView.as_view(),
        name="creator-applications",
    ),
    path(
        "service/account-facts/",
        AccountFactsBatchView.as_view(),
        name="service-account-facts",
    ),
    path(
        "service/account-facts/<int:user_id>/",
        AccountFactsView.as_view(),
        name="service-account-facts-one",
    ),
]
