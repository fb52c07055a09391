from django.urls import path

from . import views

urlpatterns = [
    path(
        "creators/<int:creator_id>/subscription-tiers/",
        views.CreatorTierListView.as_view(),
        name="creator-subscription-tiers",
    ),
    path(
        "subscription-tier-limits/",
        views.TierLimitListView.as_view(),
        name="subscription-tier-limits",
    ),
    path(
        "subscriptions/",
        views.SubscriptionListCreateView.as_view(),
        name="subscriptions",
    ),
    path(
        "subscriptions/<int:pk>/",
        views.SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<int:pk>/cancel/",
        views.SubscriptionCancelView.as_view(),
        name="subscription-cancel",
    ),
    path(
        "subscriptions/<int:pk>/resume/",
        views.SubscriptionResumeView.as_view(),
        name="subscription-resume",
    ),
    path(
        "creator/subscription-tiers/",
        views.CreatorTiersView.as_view(),
        name="creator-tiers",
    ),
    path(
        "creator/subscription-tiers/<int:pk>/",
        views.CreatorTierDetailView.as_view(),
        name="creator-tier-detail",
    ),
    path(
        "creator/subscribers/",
        views.CreatorSubscribersView.as_view(),
        name="creator-subscribers",
    ),
]
