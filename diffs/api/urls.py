"""Proposal routes under /api/v1/, and `tools/`: the agent operations as OpenAI tools."""

from django.urls import path

from . import views
from .tools import ToolList

urlpatterns = [
    path("users/<str:user_id>/blocks/<str:label>/diffs/", views.UserProposeDiff.as_view(),
         name="api-user-block-diffs"),
    path("users/<str:user_id>/diffs/", views.UserDiffList.as_view(), name="api-user-diffs"),
    path("shared/<str:namespace>/blocks/<str:label>/diffs/", views.SharedProposeDiff.as_view(),
         name="api-shared-block-diffs"),
    path("shared/<str:namespace>/diffs/", views.SharedDiffList.as_view(), name="api-shared-diffs"),
    # <str:…>, not <uuid:…>: a malformed id is 404 diff_not_found, not an unmatched route.
    path("diffs/<str:diff_id>/", views.DiffDetail.as_view(), name="api-diff"),
    path("diffs/<str:diff_id>/approve/", views.ApproveDiff.as_view(), name="api-diff-approve"),
    path("diffs/<str:diff_id>/reject/", views.RejectDiff.as_view(), name="api-diff-reject"),
    path("tools/", ToolList.as_view(), name="api-tools"),
]
