"""Staff pages mounted under /admin/ (before admin.site.urls, whose catch-all would 404 them)."""

from django.contrib import admin
from django.urls import path

from . import views

app_name = "staff"

_staff = admin.site.admin_view  # login for anonymous users, staff only, CSRF, never cached

urlpatterns = [
    path("", _staff(views.home), name="home"),
    path("apps/", _staff(admin.site.index), name="apps"),
    path("learners/", _staff(views.learner_list), name="learners"),
    path("learners/<str:user_id>/", _staff(views.learner_detail), name="learner"),
    path("dolt-log/", _staff(views.dolt_log), name="dolt-log"),
]
