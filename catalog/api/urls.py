from rest_framework.routers import SimpleRouter

from .views import GiftViewSet

router = SimpleRouter()
router.register("gifts", GiftViewSet, basename="gift")

urlpatterns = router.urls
