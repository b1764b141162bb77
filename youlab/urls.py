from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Staff pages (landing = review queue, learners, Dolt log) before the admin's own URLs.
    path("admin/", include("youlab.staff.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("youlab.api.urls")),
    # The agent tools as a Model Context Protocol server (agents/, docs/agents.md).
    path("mcp/", include("agents.urls")),
]
