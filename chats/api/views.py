"""Module chats and learners' OpenWebUI keys. Thin: chats.selectors read,
chats.services write (their errors are ServiceErrors, answered by the API's one handler)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import selectors, services
from youlab.api import openapi
from youlab.api.auth import is_agent, request_actor
from youlab.api.permissions import agents_and_staff
from youlab.api.views import ApiViewMixin, put_response
from youlab.models import Scope

from .serializers import (
    ModuleChatPutSerializer,
    ModuleChatSerializer,
    OwuiKeyMaskedSerializer,
    OwuiKeyPutSerializer,
    OwuiKeySecretSerializer,
)

_D400 = (
    "`invalid_input`: an id is empty, longer than 255 characters, or holds '/', '\\', control "
    "characters or surrounding spaces; or the body is invalid (`parse_error`). Nothing was changed."
)
_D409_CONCURRENT = "`concurrent_write`: other clients kept writing the same row; try again."


def _errors(*statuses, **descriptions):
    """The shared error responses (401, 403, 429 always) plus 503, which they do not cover."""
    responses = openapi.error_responses(*(s for s in statuses if s != 503), d400=_D400, **descriptions)
    if 503 in statuses:
        responses[503] = OpenApiResponse(
            openapi.ErrorSerializer,
            description="`secrets_not_configured`: YOULAB_FERNET_KEYS is empty or invalid.",
        )
    return responses


AGENT_ID = OpenApiParameter("agent_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The agent.")
MODULE_ID = OpenApiParameter(
    "module_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The course module."
)


# --- module chats --------------------------------------------------------------------------------

_D404_CHAT = "`module_chat_not_found`: no chat is set for the module, or it was cleared."

_CHAT_EXAMPLE = OpenApiExample(
    "A module chat",
    value={
        "user_id": "owui-user-1", "agent_id": "tutor", "module_id": "module-3",
        "chat_id": "2f6c1a4e-0b8e-4c52-9a55-0f7d2f1c9b11",
        "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z",
    },
    response_only=True,
)


READ_CHATS = agents_and_staff(Scope.CHATS, "chats.view_modulechat")
CHANGE_CHATS = agents_and_staff(Scope.CHATS, "chats.change_modulechat")


class ModuleChatDetailView(ApiViewMixin, APIView):
    access = {"GET": READ_CHATS, "PUT": CHANGE_CHATS, "DELETE": CHANGE_CHATS}

    @extend_schema(
        tags=["module chats"],
        summary="The chat of one module",
        description="404 `module_chat_not_found` when none is set or it was cleared: start a new "
        "OpenWebUI chat and PUT its id.",
        parameters=[openapi.USER_ID, AGENT_ID, MODULE_ID],
        responses={200: ModuleChatSerializer, **_errors(400, 404, d404=_D404_CHAT)},
        examples=[_CHAT_EXAMPLE],
    )
    def get(self, request, user_id, agent_id, module_id):
        chat = selectors.get_module_chat(user_id=user_id, agent_id=agent_id, module_id=module_id)
        return Response(ModuleChatSerializer(chat).data)

    @extend_schema(
        tags=["module chats"],
        summary="Set the chat of one module",
        description="201 when the module had no chat (or it was cleared), 200 when it replaces "
        "one or is already this chat (then nothing is written).",
        request=ModuleChatPutSerializer,
        parameters=[openapi.USER_ID, AGENT_ID, MODULE_ID],
        responses={
            200: ModuleChatSerializer, 201: ModuleChatSerializer,
            **_errors(400, 409, d409=_D409_CONCURRENT),
        },
        examples=[
            OpenApiExample(
                "Set a chat id", value={"chat_id": "2f6c1a4e-0b8e-4c52-9a55-0f7d2f1c9b11"},
                request_only=True,
            ),
            _CHAT_EXAMPLE,
        ],
    )
    def put(self, request, user_id, agent_id, module_id):
        body = ModuleChatPutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        chat, created = services.upsert_module_chat(
            user_id=user_id, agent_id=agent_id, module_id=module_id,
            chat_id=body.validated_data["chat_id"], by=request_actor(request),
        )
        return put_response(ModuleChatSerializer(chat).data, created=created)

    @extend_schema(
        tags=["module chats"],
        summary="Clear the chat of one module",
        description="The next GET answers 404; the old chat id stays in the history with who "
        "cleared it and when.",
        parameters=[openapi.USER_ID, AGENT_ID, MODULE_ID],
        responses={204: None, **_errors(400, 404, 409, d404=_D404_CHAT, d409=_D409_CONCURRENT)},
    )
    def delete(self, request, user_id, agent_id, module_id):
        services.clear_module_chat(
            user_id=user_id, agent_id=agent_id, module_id=module_id, by=request_actor(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["module chats"],
    summary="A learner's module chats",
    description="Current chats (cleared ones are left out), by agent and module. An unknown "
    "learner has none.",
    parameters=[
        openapi.USER_ID,
        OpenApiParameter("agent_id", OpenApiTypes.STR, description="Only this agent's chats."),
    ],
    responses={200: ModuleChatSerializer(many=True), **_errors(400)},
    examples=[_CHAT_EXAMPLE],
)
class ModuleChatListView(ApiViewMixin, generics.ListAPIView):
    serializer_class = ModuleChatSerializer
    access = {"GET": READ_CHATS}

    def get_queryset(self):
        return selectors.list_module_chats(
            user_id=self.kwargs["user_id"], agent_id=self.request.query_params.get("agent_id"),
        )


# --- learners' OpenWebUI keys --------------------------------------------------------------------

_D404_KEY = "`key_not_found`: the learner has no OpenWebUI key."
_D409_UNDECRYPTABLE = (
    "`secret_undecryptable`: no key in YOULAB_FERNET_KEYS opens the stored token (restore the old "
    "Fernet key, or PUT the key again). `concurrent_write`: try again."
)

_KEY_MASKED_EXAMPLE = {
    "user_id": "owui-user-1", "present": True, "fingerprint": "9f2c7d1e04ab5c33",
    "last4": "c0de", "masked": "…c0de (9f2c7d1e04ab5c33)",
    "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z",
}


class OwuiKeyView(ApiViewMixin, APIView):
    access = {
        "GET": agents_and_staff(Scope.OWUI_KEY_READ, "chats.view_userapikey"),
        "PUT": agents_and_staff(Scope.OWUI_KEY_WRITE, "chats.change_userapikey"),
        "DELETE": agents_and_staff(Scope.OWUI_KEY_WRITE, "chats.delete_userapikey"),
    }

    @extend_schema(
        tags=["learner keys"],
        summary="The learner's OpenWebUI key",
        description="With an agent key the answer holds `key`, the key itself (to call OpenWebUI "
        "on the learner's behalf; `Cache-Control: no-store`); each such read is recorded (key "
        "name, learner, time) and shown on the learner's staff page. Staff get the masked form only. "
        "404 `key_not_found`; 503 `secrets_not_configured`; 409 `secret_undecryptable` when no "
        "configured Fernet key opens the stored token (restore the old key, or PUT the key again).",
        responses={
            200: OpenApiResponse(OwuiKeySecretSerializer, description="`key` only for agent keys"),
            **_errors(400, 404, 409, 503, d404=_D404_KEY, d409=_D409_UNDECRYPTABLE),
        },
        parameters=[openapi.USER_ID],
        examples=[
            OpenApiExample("Agent", value={**_KEY_MASKED_EXAMPLE, "key": "sk-0123456789abcdefc0de"},
                           response_only=True),
            OpenApiExample("Staff", value=_KEY_MASKED_EXAMPLE, response_only=True),
        ],
    )
    def get(self, request, user_id):
        if not is_agent(request):
            return Response(OwuiKeyMaskedSerializer(selectors.get_user_key_record(user_id=user_id)).data)
        record, key = services.read_user_key(
            user_id=user_id, by=request_actor(request), key_prefix=request.user.api_key.prefix,
        )
        data = OwuiKeySecretSerializer(record, context={"key": key}).data
        return Response(data, headers={"Cache-Control": "no-store"})

    @extend_schema(
        tags=["learner keys"],
        summary="Set the learner's OpenWebUI key",
        description="Stored encrypted; the answer is the masked form (201 new, 200 replaced or "
        "unchanged). 400 `invalid_key` never quotes the key.",
        request=OwuiKeyPutSerializer,
        responses={
            200: OwuiKeyMaskedSerializer, 201: OwuiKeyMaskedSerializer,
            **_errors(400, 409, 503, d409=_D409_CONCURRENT),
        },
        parameters=[openapi.USER_ID],
        examples=[
            OpenApiExample("Set a key", value={"key": "sk-0123456789abcdefc0de"}, request_only=True),
            OpenApiExample("Masked", value=_KEY_MASKED_EXAMPLE, response_only=True),
        ],
    )
    def put(self, request, user_id):
        body = OwuiKeyPutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record, created = services.set_user_key(
            user_id=user_id, key=body.validated_data["key"], by=request_actor(request),
        )
        return put_response(OwuiKeyMaskedSerializer(record).data, created=created)

    @extend_schema(
        tags=["learner keys"],
        summary="Delete the learner's OpenWebUI key",
        parameters=[openapi.USER_ID],
        responses={204: None, **_errors(400, 404, 409, d404=_D404_KEY, d409=_D409_CONCURRENT)},
    )
    def delete(self, request, user_id):
        services.delete_user_key(user_id=user_id, by=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
