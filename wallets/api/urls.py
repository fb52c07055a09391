from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    PurchaseViewSet,
    StoreNotificationView,
    WalletTransferListView,
    WalletView,
)

router = SimpleRouter()
router.register("purchases", PurchaseViewSet, basename="purchase")

urlpatterns = [
    path("wallet/", WalletView.as_view(), name="wallet"),
    path(
        "wallet/transfers/", WalletTransferListView.as_view(), name="wallet-transfers"
    ),
    path(
        "stores/<str:store>/notifications/",
        StoreNotificationView.as_view(),
        name="store-notifications",
    ),
    *router.urls,
]
