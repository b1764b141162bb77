from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .tools import ToolList
from .views import api_not_found

v1 = [
    path("", include("blocks.api.urls")),
    path("", include("learners.api.urls")),
    path("", include("diffs.api.urls")),
    path("", include("chats.api.urls")),
    path("tools/", ToolList.as_view(), name="api-tools"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: any other /api/ path answers the API's JSON 404, not Django's HTML page.
    re_path(r"^.*$", api_not_found),
]
