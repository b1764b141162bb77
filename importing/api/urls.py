from django.urls import path

from . import views

urlpatterns = [
    path("users/<str:user_id>/export/", views.UserExportView.as_view(), name="user-export"),
]
