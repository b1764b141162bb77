from django.urls import path

from . import views

urlpatterns = [
    path("users/<str:user_id>/profile/", views.ProfileView.as_view(), name="api-user-profile"),
]
