from django.urls import path

from . import views

urlpatterns = [
    path("users/<str:user_id>/module-chats/", views.ModuleChatListView.as_view(), name="module-chat-list"),
    path(
        "users/<str:user_id>/module-chats/<str:agent_id>/<str:module_id>/",
        views.ModuleChatDetailView.as_view(),
        name="module-chat-detail",
    ),
    path("users/<str:user_id>/owui-key/", views.OwuiKeyView.as_view(), name="owui-key"),
]
