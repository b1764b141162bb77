"""Block routes under /api/v1/ (labels are free text: `<str:label>` matches anything but '/')."""

from django.urls import path

from . import views

urlpatterns = [
    path("users/<str:user_id>/blocks/", views.UserBlockList.as_view(), name="api-user-blocks"),
    path("users/<str:user_id>/blocks/<str:label>/", views.UserBlockDetail.as_view(), name="api-user-block"),
    path("users/<str:user_id>/blocks/<str:label>/history/", views.UserBlockHistory.as_view(),
         name="api-user-block-history"),
    path("users/<str:user_id>/blocks/<str:label>/revert/", views.UserBlockRevert.as_view(),
         name="api-user-block-revert"),
    path("shared/<str:namespace>/blocks/", views.SharedBlockList.as_view(), name="api-shared-blocks"),
    path("shared/<str:namespace>/blocks/<str:label>/", views.SharedBlockDetail.as_view(),
         name="api-shared-block"),
    path("shared/<str:namespace>/blocks/<str:label>/history/", views.SharedBlockHistory.as_view(),
         name="api-shared-block-history"),
    path("shared/<str:namespace>/blocks/<str:label>/revert/", views.SharedBlockRevert.as_view(),
         name="api-shared-block-revert"),
]
