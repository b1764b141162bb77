from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# The apps' URL modules are included by name (strings Django resolves), never imported: the
# ground floor imports no app (scripts/import_graph.py).
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Staff pages (landing = review queue, learners, Dolt log) before the admin's own URLs.
    path("admin/", include("staff.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("youlab.api.urls")),
    # The agent tools as a Model Context Protocol server (agents/, docs/agents.md).
    path("mcp/", include("agents.urls")),
]
