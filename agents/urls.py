from django.urls import path

from .views import McpEndpoint

urlpatterns = [
    # <str:…>: an ill-formed learner id is the API's 400, not an unmatched route.
    path("users/<str:user_id>/", McpEndpoint.as_view(), name="mcp-user"),
]
