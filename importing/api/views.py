"""The learner export route. Thin: importing.export builds the document (a read)."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from importing.export import build_user_export
from youlab.api import openapi
from youlab.api.permissions import agents_and_staff
from youlab.api.views import ApiViewMixin
from youlab.models import Scope

from .serializers import ExportDocumentSerializer

_D400 = (
    "`invalid_input`: the learner id is empty, longer than 255 characters, or holds '/', '\\', "
    "control characters or surrounding spaces."
)


class UserExportView(ApiViewMixin, APIView):
    # Everything about the learner (design.md §5 puts export under memory:read for agents); staff
    # need to be allowed to see each part of it.
    access = {"GET": agents_and_staff(
        Scope.MEMORY_READ, "blocks.view_block", "diffs.view_pendingdiff", "chats.view_modulechat",
    )}

    @extend_schema(
        tags=["export"],
        summary="Everything about a learner, except secrets",
        description="One `youlab-export` document (format_version 2, docs/export.md): the "
        "learner's profile (name, email) and blocks with every version, diffs, module chats with "
        "their history, and whether an "
        "OpenWebUI key is set (fingerprint and last 4 only). `python manage.py import_export` "
        "restores it. An unknown learner gives an empty document.",
        parameters=[openapi.USER_ID],
        responses={200: ExportDocumentSerializer, **openapi.error_responses(400, d400=_D400)},
        examples=[
            OpenApiExample(
                "An export",
                value={
                    "format": "youlab-export", "format_version": 1,
                    "exported_at": "2026-11-28T12:00:00.000000Z", "user_id": "owui-user-1",
                    "blocks": [], "diffs": [], "module_chats": [],
                    "owui_key": {"present": False, "fingerprint": None, "last4": None,
                                 "created_at": None, "updated_at": None},
                },
                response_only=True,
            ),
        ],
    )
    def get(self, request, user_id):
        return Response(build_user_export(user_id))
