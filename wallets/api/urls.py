from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    PurchaseViewSet,
    RefundRequestListView,
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
    path("refund-requests/", RefundRequestListView.as_view(), name="refund-requests"),
    path(
        "stores/<str:store>/notifications/",
        StoreNotificationView.as_view(),
        name="store-notifications",
    ),
    *router.urls,
]
