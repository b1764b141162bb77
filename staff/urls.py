"""Staff pages mounted under /admin/ (before admin.site.urls, whose catch-all would 404 them)."""

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.urls import path

from . import views

app_name = "staff"

_staff = admin.site.admin_view  # login for anonymous users, staff only, CSRF, never cached


def _viewers(view):
    """Learner ids, chat ids, key fingerprints and reject reasons: for staff who may view blocks
    (design.md §5), 403 for other staff."""
    return _staff(permission_required("blocks.view_block", raise_exception=True)(view))


urlpatterns = [
    path("", _staff(views.home), name="home"),
    path("apps/", _staff(admin.site.index), name="apps"),
    path("learners/", _viewers(views.learner_list), name="learners"),
    path("learners/<str:user_id>/", _viewers(views.learner_detail), name="learner"),
    path("dolt-log/", _viewers(views.dolt_log), name="dolt-log"),
]
