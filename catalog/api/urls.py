from rest_framework.routers import SimpleRouter

from .views import BundleViewSet, GiftViewSet

router = SimpleRouter()
router.register("gifts", GiftViewSet, basename="gift")
router.register("bundles", BundleViewSet, basename="bundle")

urlpatterns = router.urls
