"""Proposal routes: agents propose and poll; staff approve or reject.

Thin views: serializers check shapes, diffs.edits maps aliases at this edge, diffs.selectors
read, diffs.services decide and write.
"""

import json

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from blocks.api.views import OwnerMixin
from diffs import edits, selectors, services
from diffs.exceptions import ReasonRequired
from diffs.models import DiffStatus
from youlab.api import openapi
from youlab.api.auth import request_actor
from youlab.api.errors import ApiError, error_response
from youlab.api.permissions import agents_and_staff, staff_only
from youlab.api.views import ApiViewMixin, idempotency_key, if_match_version, query_params, represent
from youlab.models import Scope

from .serializers import (
    HEAVY_DIFF_FIELDS,
    OPERATION_ARGUMENTS,
    ApproveSerializer,
    DiffListItemSerializer,
    DiffListQuerySerializer,
    DiffSerializer,
    ProposalEnvelopeSerializer,
    ProposeRequest,
    RejectSerializer,
)

DIFF_EXAMPLE = {
    "id": "5c0e8d1a-0000-4000-8000-000000000001",
    "owner_type": "user",
    "owner_id": "maya",
    "label": "student",
    "block_id": "7d9f3c1e-2b1a-4c55-9d7e-0a1b2c3d4e5f",
    "operation": "str_replace",
    "arguments": {"old_str": "Name: Maya", "new_str": "Name: Maya Tran"},
    "status": "pending",
    "base_version": 3,
    "proposed_content": "# Student\nName: Maya Tran\nGoal: write about the bakery\n",
    "preview": "--- a/student\n+++ b/student\n@@ -1,3 +1,3 @@\n # Student\n-Name: Maya\n+Name: Maya Tran\n"
    " Goal: write about the bakery\n",
    "reasoning": "She told me her family name.",
    "agent": "tutor",
    "agent_id": "agent-42",
    "is_stale": False,
    "conflict_reason": "",
    "reviewer": None,
    "reviewed_at": None,
    "review_note": "",
    "applied_version": None,
    "created_at": "2026-01-12T15:00:00Z",
    "updated_at": "2026-01-12T15:00:00Z",
}
LIST_ITEM_EXAMPLE = {k: v for k, v in DIFF_EXAMPLE.items() if k not in HEAVY_DIFF_FIELDS}
APPROVED_EXAMPLE = {
    **DIFF_EXAMPLE, "status": "approved", "reviewer": "rita", "reviewed_at": "2026-01-12T15:30:00Z",
    "applied_version": 4, "updated_at": "2026-01-12T15:30:00Z",
}


def parse_proposal(data) -> tuple[dict, str, dict]:
    """(envelope, canonical operation, canonical arguments) from a proposal body.

    Arguments come flattened next to `operation` or nested in `arguments`; aliases (Letta's tool
    and argument names) are mapped by edits.normalize_operation, then the operation's argument
    serializer checks sizes.
    """
    if not isinstance(data, dict):
        raise ApiError("invalid_input", "the request body must be a JSON object")
    envelope = ProposalEnvelopeSerializer(data=data)
    envelope.is_valid(raise_exception=True)
    flattened = {k: v for k, v in data.items() if k not in ProposalEnvelopeSerializer.ENVELOPE_FIELDS}
    nested = envelope.validated_data.get("arguments")
    if nested is not None and flattened:
        raise ApiError(
            "invalid_arguments",
            "give the operation's arguments either flattened or in `arguments`, not both",
            details={"field": "arguments", "flattened": sorted(flattened)},
        )
    operation, arguments = edits.normalize_operation(
        envelope.validated_data["operation"], nested if nested is not None else flattened
    )
    checked = OPERATION_ARGUMENTS[operation](data=arguments)
    if not checked.is_valid():
        raise ApiError(
            "invalid_arguments", f"invalid arguments for {operation}", details={"fields": checked.errors}
        )
    return envelope.validated_data, operation, arguments


READ_DIFFS = agents_and_staff(Scope.MEMORY_READ, "diffs.view_pendingdiff")
DECIDE_DIFFS = staff_only("diffs.change_pendingdiff")


class ProposeDiff(OwnerMixin, generics.GenericAPIView):
    """POST: propose a change to one block. GET: the proposals for that label."""

    serializer_class = DiffSerializer
    access = {"GET": READ_DIFFS, "POST": agents_and_staff(Scope.MEMORY_PROPOSE, "diffs.add_pendingdiff")}

    def post(self, request, *args, **kwargs):
        owner_id, label = self.get_owner_id(), self.get_label()
        envelope, operation, arguments = parse_proposal(request.data)
        expected_version = if_match_version(request)
        key = idempotency_key(request)
        fingerprinted = {
            "owner_type": self.owner_type, "owner_id": owner_id, "label": label,
            "operation": operation, "arguments": arguments,
            "reasoning": envelope["reasoning"], "agent_id": envelope["agent_id"],
        }
        if envelope["callback_url"]:  # only when given: earlier requests keep their fingerprint
            fingerprinted["callback_url"] = envelope["callback_url"]
        fingerprint = services.request_fingerprint(payload=fingerprinted)

        def render(new_diff):
            # With an Idempotency-Key, kept as rendered, so a replay answers exactly what the
            # first request got; stored with the diff in one INSERT.
            return json.loads(JSONRenderer().render(represent(DiffSerializer, new_diff)))

        diff, created = services.propose_diff(
            owner_type=self.owner_type,
            owner_id=owner_id,
            label=label,
            operation=operation,
            arguments=arguments,
            reasoning=envelope["reasoning"],
            by=request_actor(request),
            agent_id=envelope["agent_id"],
            expected_version=expected_version,
            idempotency_key=key,
            fingerprint=fingerprint,
            render_response=render,
            callback_url=envelope["callback_url"],
        )
        headers = {"Location": reverse("api-diff", kwargs={"diff_id": diff.pk})}
        if created:
            # Without an Idempotency-Key nothing was stored: the representation is rendered once,
            # by the response (a 290 KB block's proposal carries its whole text).
            body = diff.response_body if diff.response_body is not None else represent(DiffSerializer, diff)
        else:
            headers["Idempotent-Replayed"] = "true"
            body = diff.response_body
            if body is None:  # the first request has not stored its answer (yet)
                body = DiffSerializer(selectors.get_diff(diff.pk)).data
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)

    def get(self, request, *args, **kwargs):
        owner_id, label = self.get_owner_id(), self.get_label()
        page = self.paginate_queryset(selectors.diffs_for_owner(self.owner_type, owner_id, label=label))
        return self.get_paginated_response(DiffListItemSerializer(page, many=True).data)


class OwnerDiffList(OwnerMixin, generics.ListAPIView):
    serializer_class = DiffListItemSerializer
    access = {"GET": READ_DIFFS}

    def get_queryset(self):
        query = DiffListQuerySerializer(data=query_params(self.request, DiffListQuerySerializer))
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return selectors.diffs_for_owner(
            self.owner_type,
            self.get_owner_id(),
            status=filters.get("status"),
            label=filters.get("label"),
            agent_key_name=request_actor(self.request).proposer if filters.get("mine") else None,
        )


class DiffDetail(ApiViewMixin, generics.GenericAPIView):
    serializer_class = DiffSerializer
    access = {"GET": READ_DIFFS}

    @extend_schema(
        summary="Read a proposal (agents poll this)",
        description="The proposal and its current status: pending → approved / rejected / "
        "conflict (with `conflict_reason`) / superseded.",
        tags=["proposals"],
        parameters=[openapi.DIFF_ID],
        responses={200: DiffSerializer, **openapi.error_responses(404)},
        examples=[
            OpenApiExample("Approved", value=APPROVED_EXAMPLE, response_only=True, status_codes=["200"]),
            openapi.error_example("Unknown", 404, "diff_not_found", "no diff 5c0e8d1a-…"),
        ],
    )
    def get(self, request, diff_id):
        return Response(represent(DiffSerializer, selectors.get_diff(diff_id)))


class ApproveDiff(ApiViewMixin, generics.GenericAPIView):
    serializer_class = ApproveSerializer
    access = {"POST": DECIDE_DIFFS}

    @extend_schema(
        summary="Staff: approve a proposal (optionally edited)",
        description="Applies the operation to the block's current content in one transaction and "
        "one Dolt commit by the reviewer. When the block moved on and the operation no longer "
        "applies, the proposal becomes `conflict` and the answer is 409 `conflict` (the reason is "
        "in the message, the proposal in `details.diff`). `edited_content` replaces the proposed "
        "text. Staff login only; agent keys get 403.",
        tags=["review"],
        parameters=[openapi.DIFF_ID],
        request=ApproveSerializer,
        responses={200: DiffSerializer, **openapi.error_responses(400, 404, 409, 413, 415)},
        examples=[
            OpenApiExample("Approve", value={"note": "thanks"}, request_only=True),
            OpenApiExample("Edit and approve", value={"edited_content": "# Student\nName: Maya T.\n"}, request_only=True),
            OpenApiExample("Approved", value=APPROVED_EXAMPLE, response_only=True, status_codes=["200"]),
            openapi.error_example(
                "Conflict", 409, "conflict",
                "block changed from version 3 to 4 and the edit no longer applies: old_str does not occur in the block",
                {"diff": {**DIFF_EXAMPLE, "status": "conflict"}},
            ),
            openapi.error_example("Already decided", 409, "diff_not_pending",
                                  "diff is approved; only pending diffs can be decided", {"status": "approved"}),
        ],
    )
    def post(self, request, diff_id):
        pk = selectors.parse_diff_id(diff_id)
        serializer = ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        diff = services.approve_diff(
            diff_id=pk,
            by=request_actor(request),
            edited_content=serializer.validated_data.get("edited_content"),
            note=serializer.validated_data["note"],
        )
        body = DiffSerializer(selectors.get_diff(diff.pk)).data
        if diff.status == DiffStatus.CONFLICT:
            return error_response("conflict", diff.conflict_reason, status.HTTP_409_CONFLICT, {"diff": body})
        return Response(body)


class RejectDiff(ApiViewMixin, generics.GenericAPIView):
    serializer_class = RejectSerializer
    access = {"POST": DECIDE_DIFFS}

    @extend_schema(
        summary="Staff: reject a proposal",
        description="Marks the proposal rejected with the reviewer's `reason` (required); the "
        "block is untouched. Staff login only; agent keys get 403.",
        tags=["review"],
        parameters=[openapi.DIFF_ID],
        request=RejectSerializer,
        responses={200: DiffSerializer, **openapi.error_responses(400, 404, 409, 413, 415)},
        examples=[
            OpenApiExample("Reject", value={"reason": "Not what she said."}, request_only=True),
            OpenApiExample("Rejected", value={**DIFF_EXAMPLE, "status": "rejected", "reviewer": "rita",
                                              "review_note": "Not what she said."},
                           response_only=True, status_codes=["200"]),
            openapi.error_example("No reason", 400, "reason_required", "a reason is required to reject a diff"),
        ],
    )
    def post(self, request, diff_id):
        pk = selectors.parse_diff_id(diff_id)
        serializer = RejectSerializer(data=request.data)
        if not serializer.is_valid():
            reason_errors = serializer.errors.get("reason", [])
            if any(getattr(e, "code", None) in {"required", "blank", "null"} for e in reason_errors):
                raise ReasonRequired("a reason is required to reject a diff")
            serializer.is_valid(raise_exception=True)
        diff = services.reject_diff(diff_id=pk, by=request_actor(request), reason=serializer.validated_data["reason"])
        return Response(DiffSerializer(selectors.get_diff(diff.pk)).data)


# --- OpenAPI: one decorated class per owner kind ----------------------------------------------

PROPOSE_EXAMPLES = [
    OpenApiExample(
        "str_replace (flattened)",
        value={"operation": "str_replace", "old_str": "Name: Maya", "new_str": "Name: Maya Tran",
               "reasoning": "She told me her family name.", "agent_id": "agent-42"},
        request_only=True,
    ),
    OpenApiExample(
        "append (nested arguments)",
        value={"operation": "append", "arguments": {"text": "Likes chess"}, "reasoning": "Mentioned twice."},
        request_only=True,
    ),
    OpenApiExample(
        "Letta names",
        value={"operation": "core_memory_replace", "old_content": "Name: Maya", "new_content": "Name: Maya Tran"},
        request_only=True,
    ),
    OpenApiExample(
        "create a new block",
        value={"operation": "create", "content": "- Salt, Fat, Acid, Heat", "description": "Books to read",
               "char_limit": 2000, "reasoning": "She asked me to keep a list."},
        request_only=True,
    ),
    OpenApiExample("Proposed", value=DIFF_EXAMPLE, response_only=True, status_codes=["201"]),
    openapi.error_example(
        "old_str not unique", 400, "old_str_not_unique",
        "old_str occurs 2 times (lines 2, 5); include more surrounding text to make it unique",
        {"lines": [2, 5], "count": 2},
    ),
    openapi.error_example("Stale", 412, "version_mismatch", "block is at version 4, not 3", {"current_version": 4}),
    openapi.error_example("Key reused", 409, "idempotency_key_reused",
                          "this Idempotency-Key was already used with a different request",
                          {"diff_id": "5c0e8d1a-0000-4000-8000-000000000001"}),
    openapi.error_example("Read-only", 409, "block_read_only", "block 'course' is read-only"),
    openapi.error_example("Too many open proposals", 409, "too_many_open_proposals",
                          "tutor already has 20 pending proposals for 'student'; wait for a reviewer to "
                          "decide some (poll the diffs) before proposing more", {"open": 20, "limit": 20}),
    openapi.error_example("Scope", 403, "scope_required",
                          "this API key lacks the scope 'memory:propose' (propose changes to blocks)",
                          {"scope": "memory:propose"}),
]


def _propose_schema(owner):
    return extend_schema(
        summary="Propose a change to a block" + (" (shared)" if owner == "shared" else ""),
        description=(
            "Stores a pending proposal for staff review and answers 201 with its id, status and a "
            "unified-diff `preview`. Operations (design §4): `append` {text}, `str_replace` "
            "{old_str, new_str} (old_str must occur exactly once), `insert` {insert_line, text}, "
            "`rethink` {content}, `create` {content, description?, char_limit?} for a label that "
            "does not exist yet. Arguments go flattened next to `operation` or nested in "
            "`arguments`. Letta tool names (core_memory_append, memory_replace, memory_insert, "
            "memory_rethink, …) and argument names (old_string/new_string, old_content/"
            "new_content, new_memory, insert_text, content for append) are accepted.\n\n"
            "`If-Match: \"<version>\"` makes the proposal conditional (412 when stale). "
            "`Idempotency-Key` makes retries safe: the same key and body replay the first answer "
            "with `Idempotent-Replayed: true` (also when both are in flight at once); another body "
            "with that key is 409. At most YOULAB_MAX_OPEN_PROPOSALS (default 20) pending proposals "
            "per API key and block: 409 `too_many_open_proposals`."
        ),
        tags=["proposals"],
        parameters=[openapi.owner_parameter(owner), openapi.LABEL, openapi.IF_MATCH,
                    openapi.IDEMPOTENCY_KEY, openapi.LOCATION, openapi.IDEMPOTENT_REPLAYED],
        request=ProposeRequest,
        responses={201: DiffSerializer, **openapi.error_responses(400, 404, 409, 412, 413, 415)},
        examples=PROPOSE_EXAMPLES,
    )


def _label_diffs_schema(owner):
    return extend_schema(
        summary="List the proposals for one block label, newest first",
        description="Every proposal for this label (also `create` proposals for a label that "
        "has no block yet); an unknown label has none.",
        tags=["proposals"],
        examples=[OpenApiExample("Proposals", value=LIST_ITEM_EXAMPLE, response_only=True, status_codes=["200"])],
        parameters=[openapi.owner_parameter(owner), openapi.LABEL],
        responses={200: DiffListItemSerializer(many=True), **openapi.error_responses(400, 404)},
    )


def _owner_diffs_schema(owner):
    whose = "the learner's" if owner == "user" else "the shared namespace's"
    return extend_schema(
        summary=f"List {whose} proposals, newest first",
        description="Filter with `status`, `label`, and `mine=true` (only the calling key's). "
        "Agents poll this (or `diffs/{id}/`) to learn what became of their proposals.",
        tags=["proposals"],
        parameters=[openapi.owner_parameter(owner), DiffListQuerySerializer],
        responses={200: DiffListItemSerializer(many=True), **openapi.error_responses(400, 404)},
        examples=[OpenApiExample("Proposals", value=LIST_ITEM_EXAMPLE, response_only=True, status_codes=["200"])],
    )


def _variant(base, owner, **schemas):
    attrs = {
        "owner_type": "user" if owner == "user" else "shared",
        "owner_kwarg": "user_id" if owner == "user" else "namespace",
        "__module__": __name__,
    }
    name = ("User" if owner == "user" else "Shared") + base.__name__
    cls = type(name, (base,), attrs)
    return extend_schema_view(**{method: make(owner) for method, make in schemas.items()})(cls)


UserProposeDiff = _variant(ProposeDiff, "user", post=_propose_schema, get=_label_diffs_schema)
SharedProposeDiff = _variant(ProposeDiff, "shared", post=_propose_schema, get=_label_diffs_schema)
UserDiffList = _variant(OwnerDiffList, "user", get=_owner_diffs_schema)
SharedDiffList = _variant(OwnerDiffList, "shared", get=_owner_diffs_schema)
