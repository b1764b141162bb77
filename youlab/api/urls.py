from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views import api_not_found

# The apps' routes, included by name: the one place the ground floor refers to the apps, and
# only as strings (Django resolves them), never as imports (tests/test_architecture.py).
v1 = [
    path("", include("blocks.api.urls")),
    path("", include("learners.api.urls")),
    path("", include("diffs.api.urls")),  # with tools/, the agent operations as OpenAI tools
    path("", include("chats.api.urls")),
    path("", include("importing.api.urls")),  # the learner export
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: any other /api/ path answers the API's JSON 404, not Django's HTML page.
    re_path(r"^.*$", api_not_found),
]
