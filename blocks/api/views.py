"""Block routes for agents and staff: read blocks and their history; staff revert.

Thin views: serializers check shapes, blocks.selectors read, blocks.services write.
"""

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.response import Response

from blocks import selectors, services
from blocks.models import OwnerType
from youlab.api import openapi
from youlab.api.auth import request_actor
from youlab.api.errors import ApiError
from youlab.api.permissions import agents_and_staff, staff_only
from youlab.api.pagination import TextBudgetPagination
from youlab.api.views import ApiViewMixin, RepresentedListMixin, etag, if_none_match, query_params, represent
from youlab.dates import parse_moment
from youlab.models import Scope
from youlab.validators import validate_label, validate_owner_id

from .serializers import (
    AsOfQuerySerializer,
    BlockSerializer,
    BlockSettingsSerializer,
    BlockVersionSerializer,
    RevertSerializer,
)

BLOCK_EXAMPLE = {
    "id": "7d9f3c1e-2b1a-4c55-9d7e-0a1b2c3d4e5f",
    "owner_type": "user",
    "owner_id": "maya",
    "label": "student",
    "content": "# Student\nName: Maya\nGoal: write about the bakery\n",
    "description": "What we know about the learner",
    "char_limit": 5000,
    "read_only": False,
    "metadata": {},
    "version": 3,
    "created_at": "2026-01-10T09:00:00Z",
    "updated_at": "2026-01-12T15:30:00Z",
}
VERSION_EXAMPLE = {
    "version": 3,
    "content": "# Student\nName: Maya\nGoal: write about the bakery\n",
    "actor": "staff:rita",
    "reason": "Diff 5c0e… (str_replace) approved by rita",
    "date": "2026-01-12T15:30:00Z",
    "diff_id": "5c0e8d1a-0000-4000-8000-000000000001",
    "deleted": False,
}
NOT_FOUND = openapi.error_example(
    "Unknown block", 404, "block_not_found", "no block 'goals' for learner 'maya'",
    {"owner_type": "user", "owner_id": "maya", "label": "goals"},
)


class OwnerMixin(ApiViewMixin):
    """A route under `users/{user_id}/` or `shared/{namespace}/`."""

    owner_type = OwnerType.USER
    owner_kwarg = "user_id"

    def get_owner_id(self) -> str:
        # Looked up as it is: an owner id stored before the no-surrounding-spaces rule stays
        # readable (writing under one is refused by the services, youlab.validators).
        return validate_owner_id(self.kwargs[self.owner_kwarg], lookup=True)

    def get_label(self) -> str:
        # The one identifier rule (not BlockLabelSerializer's) so the error names the field and
        # any offending code point in `details`.
        return validate_label(self.kwargs["label"])

    def get_block(self):
        return selectors.get_live_block(self.owner_type, self.get_owner_id(), self.get_label())


READ_BLOCKS = agents_and_staff(Scope.MEMORY_READ, "blocks.view_block")


class BlockList(OwnerMixin, RepresentedListMixin, generics.ListAPIView):
    serializer_class = BlockSerializer
    access = {"GET": READ_BLOCKS}

    def get_queryset(self):
        return selectors.live_blocks(self.owner_type, self.get_owner_id())

    def first_page(self, limit):
        # get_queryset()[:limit], read faster (Pagination uses it while the view has no filter backends).
        return selectors.live_blocks_page(self.owner_type, self.get_owner_id(), limit=limit)


def parse_as_of(value: str) -> dt.datetime:
    moment = parse_moment(value)
    if moment is None:
        raise ApiError("invalid_input", "as_of must be an ISO 8601 date-time, e.g. 2026-03-03T18:00:00Z",
                       details={"fields": {"as_of": ["expected an ISO 8601 date-time"]}})
    return moment


class BlockDetail(OwnerMixin, generics.GenericAPIView):
    serializer_class = BlockSerializer
    # Block settings: staff only (agent keys get 403), with blocks.change_block.
    access = {"GET": READ_BLOCKS, "PATCH": staff_only("blocks.change_block")}

    def get(self, request, *args, **kwargs):
        # Agent scope: memory:read (with or without as_of).
        as_of = query_params(request, AsOfQuerySerializer).get("as_of")
        if as_of is not None:
            version = selectors.block_as_of(
                self.owner_type, self.get_owner_id(), self.get_label(), parse_as_of(as_of))
            return Response(represent(BlockSerializer, version), headers={"ETag": etag(version.version)})
        owner_id, label = self.get_owner_id(), self.get_label()
        if request.headers.get("If-None-Match"):
            # Most conditional reads are answered 304: the version alone decides, not the text.
            version = selectors.find_live_block_version(self.owner_type, owner_id, label)
            if version is not None and if_none_match(request, version):
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(version)})
        block = selectors.get_live_block(self.owner_type, owner_id, label)
        headers = {"ETag": etag(block.version)}
        if if_none_match(request, block.version):  # it became that version since
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(represent(BlockSerializer, block), headers=headers)

    def patch(self, request, *args, **kwargs):
        block = self.get_block()
        body = BlockSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        settings = {k: v for k, v in body.validated_data.items() if k in services.SETTINGS}
        block = services.update_block_settings(
            block=block, **settings, by=request_actor(request), reason=body.validated_data.get("reason", ""),
        )
        return Response(BlockSerializer(block).data, headers={"ETag": etag(block.version)})


class BlockHistory(OwnerMixin, generics.ListAPIView):
    serializer_class = BlockVersionSerializer
    access = {"GET": READ_BLOCKS}
    pagination_class = TextBudgetPagination  # each version carries its whole text
    text_fields = ("content",)

    def get_queryset(self):
        return selectors.block_history(self.get_block())


class BlockRevert(OwnerMixin, generics.GenericAPIView):
    serializer_class = RevertSerializer
    access = {"POST": staff_only("blocks.change_block")}

    def post(self, request, *args, **kwargs):
        block = self.get_block()
        serializer = RevertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        block = services.revert_block(
            block=block,
            version=serializer.validated_data["version"],
            by=request_actor(request),
            reason=serializer.validated_data.get("reason", ""),
        )
        return Response(BlockSerializer(block).data, headers={"ETag": etag(block.version)})


# --- OpenAPI: one decorated class per owner kind ----------------------------------------------


def _owner_words(owner):
    return ("the learner's", "blocks") if owner == "user" else ("the shared namespace's", "shared blocks")


def _list_schema(owner):
    whose, tag = _owner_words(owner)
    return extend_schema(
        summary=f"List {whose} live blocks",
        description=f"{whose.capitalize()} blocks that are not deleted, by label, with their content. "
        + ("An unknown learner has no blocks: the answer is an empty list, not 404." if owner == "user"
           else "An unknown namespace has no blocks: the answer is an empty list."),
        tags=[tag],
        parameters=[openapi.owner_parameter(owner)],
        responses={200: BlockSerializer(many=True), **openapi.error_responses(400, 404)},
        examples=[OpenApiExample("Blocks", value=BLOCK_EXAMPLE, response_only=True, status_codes=["200"])],
    )


AS_OF = OpenApiParameter(
    "as_of", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
    description="An ISO 8601 date-time (`2026-03-03T18:00:00Z`; without an offset: UTC; a date alone "
    "means the end of that day, UTC): the block as it was then, i.e. its newest version dated at or "
    "before it. 404 `block_not_found` if the block did not exist yet (or was soft-deleted) then.",
)


def _detail_schema(owner):
    whose, tag = _owner_words(owner)
    return extend_schema(
        summary=f"Read one of {whose} blocks",
        description="Answers with `ETag: \"<version>\"`. Send it back as `If-None-Match` to get 304 "
        "while the block is unchanged, or as `If-Match` on a proposal to make it conditional. "
        "`?as_of=` reads the block as it was at a moment in the past.",
        tags=[tag],
        parameters=[openapi.owner_parameter(owner), openapi.LABEL, AS_OF, openapi.IF_NONE_MATCH, openapi.ETAG],
        responses={
            200: BlockSerializer,
            304: OpenApiResponse(description="Not modified: the block is still at the version named by If-None-Match."),
            **openapi.error_responses(400, 404),
        },
        examples=[OpenApiExample("Block", value=BLOCK_EXAMPLE, response_only=True, status_codes=["200"]), NOT_FOUND],
    )


def _history_schema(owner):
    whose, tag = _owner_words(owner)
    return extend_schema(
        summary=f"Versions of one of {whose} blocks, newest first",
        description="Every version with its full content, who made it (`actor`), why (`reason`) and when.",
        tags=[tag],
        parameters=[openapi.owner_parameter(owner), openapi.LABEL],
        responses={200: BlockVersionSerializer(many=True), **openapi.error_responses(400, 404)},
        examples=[
            OpenApiExample("Versions", value=VERSION_EXAMPLE, response_only=True, status_codes=["200"]),
            NOT_FOUND,
        ],
    )


def _revert_schema(owner):
    whose, tag = _owner_words(owner)
    return extend_schema(
        summary=f"Staff: revert one of {whose} blocks to an earlier version",
        description="Makes a new version whose content equals version `version` (staff login only; "
        "agent keys get 403). Leaves a history row and a Dolt commit by the reviewer.",
        tags=["review"],
        parameters=[openapi.owner_parameter(owner), openapi.LABEL, openapi.ETAG],
        request=RevertSerializer,
        responses={200: BlockSerializer, **openapi.error_responses(400, 404, 409, 413, 415)},
        examples=[
            OpenApiExample("Revert to version 2", value={"version": 2, "reason": "undo the bad edit"}, request_only=True),
            OpenApiExample("Reverted", value={**BLOCK_EXAMPLE, "version": 4}, response_only=True, status_codes=["200"]),
            openapi.error_example("Agent key", 403, "permission_denied", "staff only: agent API keys may not do this"),
            openapi.error_example("No such version", 404, "version_not_found", "block 'student' has no version 9", {"version": 9}),
        ],
    )


def _settings_schema(owner):
    whose, _ = _owner_words(owner)
    return extend_schema(
        summary=f"Staff: change the settings of one of {whose} blocks",
        description="Description, char limit, read-only flag and/or metadata (those left out keep their "
        "value). A change is a new version with a history row and a Dolt commit by the member of staff; "
        "the same values again change nothing. Staff login with `blocks.change_block` only (agent keys: "
        "403). A `char_limit` below the content's length is 400 `over_char_limit`; once `read_only` "
        "is set, agents' proposals are 409 `block_read_only`.",
        tags=["review"],
        parameters=[openapi.owner_parameter(owner), openapi.LABEL, openapi.ETAG],
        request=BlockSettingsSerializer,
        responses={200: BlockSerializer, **openapi.error_responses(400, 404, 409, 413, 415)},
        examples=[
            OpenApiExample("Raise the limit, lock it", value={"char_limit": 8000, "read_only": True,
                                                              "reason": "she outgrew 5000"}, request_only=True),
            OpenApiExample("Changed", value={**BLOCK_EXAMPLE, "char_limit": 8000, "read_only": True, "version": 4},
                           response_only=True, status_codes=["200"]),
            openapi.error_example("Below the content", 400, "over_char_limit",
                                  "the content has 4120 characters; a limit of 4000 is below that (shorten the content first)",
                                  {"length": 4120, "char_limit": 4000}),
        ],
    )


def _variant(base, owner, **schemas):
    attrs = {
        "owner_type": OwnerType.USER if owner == "user" else OwnerType.SHARED,
        "owner_kwarg": "user_id" if owner == "user" else "namespace",
        "__module__": __name__,
    }
    name = ("User" if owner == "user" else "Shared") + base.__name__
    cls = type(name, (base,), attrs)
    return extend_schema_view(**{method: make(owner) for method, make in schemas.items()})(cls)


UserBlockList = _variant(BlockList, "user", get=_list_schema)
SharedBlockList = _variant(BlockList, "shared", get=_list_schema)
UserBlockDetail = _variant(BlockDetail, "user", get=_detail_schema, patch=_settings_schema)
SharedBlockDetail = _variant(BlockDetail, "shared", get=_detail_schema, patch=_settings_schema)
UserBlockHistory = _variant(BlockHistory, "user", get=_history_schema)
SharedBlockHistory = _variant(BlockHistory, "shared", get=_history_schema)
UserBlockRevert = _variant(BlockRevert, "user", post=_revert_schema)
SharedBlockRevert = _variant(BlockRevert, "shared", post=_revert_schema)
