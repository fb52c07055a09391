from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    CreatorEarningsView,
    CreatorPayoutMethodView,
    PayoutViewSet,
    ProviderCallbackView,
)

router = SimpleRouter()
router.register("payouts", PayoutViewSet, basename="payout")

urlpatterns = [
    path("creator/earnings/", CreatorEarningsView.as_view(), name="creator-earnings"),
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
