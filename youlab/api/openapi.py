"""Pieces of the OpenAPI description shared by every API app: the error shape, the standard
error responses, and the path and header parameters."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .permissions import ANY_SCOPE, access_rule


class AgentKeyScheme(OpenApiAuthenticationExtension):
    """Documents youlab.api.auth.AgentKeyAuthentication as the `ApiKeyAuth` security scheme."""

    target_class = "youlab.api.auth.AgentKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_requirement(self, auto_schema):
        # SPECTACULAR_SETTINGS["SECURITY"] already lists it for every operation: don't repeat it.
        requirement = {self.name: []}
        return None if requirement in settings.SPECTACULAR_SETTINGS.get("SECURITY", []) else requirement

    def get_security_definition(self, auto_schema):
        return settings.SPECTACULAR_SETTINGS["APPEND_COMPONENTS"]["securitySchemes"]["ApiKeyAuth"]


class YoulabAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus what each operation needs (youlab.api.permissions):
    `x-scope` (the agent-key scope, or null for staff-only routes), `x-staff-permissions`, and
    the same in words at the end of the description."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        rule = access_rule(self.view, method)
        if operation is None or rule is None:
            return operation
        if rule.scope is None:
            needs = "Staff only (agent keys get 403 `permission_denied`)"
        elif rule.scope == ANY_SCOPE:
            needs = "Any agent key"
        else:
            needs = f"Agent keys need the scope `{rule.scope}` (else 403 `scope_required`)"
        if rule.permissions:
            needs += "; staff need " + ", ".join(f"`{p}`" for p in rule.permissions)
        operation["description"] = (operation.get("description", "") + f"\n\n**Access:** {needs}.").strip()
        operation["x-scope"] = rule.scope  # "*": any agent key; null: staff only
        operation["x-staff-permissions"] = list(rule.permissions)
        return operation


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable, machine-readable error code, e.g. `old_str_not_unique` (see docs/api.md)."
    )
    message = serializers.CharField(help_text="What went wrong, for a human or an LLM.")
    details = serializers.DictField(
        help_text="Extra facts about the error, e.g. `lines` for old_str_not_unique, "
        "`current_version` for version_mismatch, `fields` for invalid_input."
    )


class ErrorSerializer(serializers.Serializer):
    """Every API failure answers with this shape."""

    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    400: "Invalid input: `invalid_input`, `parse_error`, `invalid_header`, `invalid_arguments`, "
    "`unknown_operation`, `old_str_not_found`, `old_str_not_unique`, `insert_line_out_of_range`, "
    "`over_char_limit`, `reason_required`. Nothing was changed.",
    401: "No API key, or an invalid, revoked or expired one (`not_authenticated`, "
    "`authentication_failed`). The answer carries `WWW-Authenticate: Api-Key`.",
    403: "Authenticated but not allowed: `scope_required` (the API key lacks the route's scope, "
    "`details.scope`), `permission_denied` (an agent key on a staff route, or a staff account "
    "without the Django permission, `details.permission`).",
    404: "`block_not_found`, `diff_not_found`, `version_not_found` or `not_found`.",
    409: "The request conflicts with the current state: `block_read_only`, `block_exists`, "
    "`diff_not_pending`, `conflict`, `idempotency_key_reused`, `idempotency_key_in_use`, "
    "`too_many_open_proposals`, `version_conflict`.",
    412: "`version_mismatch`: If-Match named a version the block is no longer at.",
    413: "`request_too_large`: the body is larger than the server accepts.",
    415: "`unsupported_media_type`: send `Content-Type: application/json`.",
    429: "`throttled`: too many requests for this API key; see `Retry-After`.",
}


def error_responses(*statuses, **overrides) -> dict:
    """{status: OpenApiResponse(ErrorSerializer)} for the given statuses (401, 403 and 429 are
    always added: every route has auth and throttling)."""
    codes = sorted(set(statuses) | {401, 403, 429})
    return {
        code: OpenApiResponse(ErrorSerializer, description=overrides.get(f"d{code}", _DESCRIPTIONS[code]))
        for code in codes
    }


def error_example(name, status_code, code, message, details=None) -> OpenApiExample:
    return OpenApiExample(
        name,
        value={"error": {"code": code, "message": message, "details": details or {}}},
        response_only=True,
        status_codes=[str(status_code)],
    )


AUTH_EXAMPLES = [
    error_example("No API key", 401, "not_authenticated", "Authentication credentials were not provided."),
]

# --- path parameters ------------------------------------------------------------------------

USER_ID = OpenApiParameter(
    "user_id", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The learner's id (their OpenWebUI user id). A learner exists once they own something.",
)
NAMESPACE = OpenApiParameter(
    "namespace", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="A shared namespace, e.g. a course id (`college-essay`).",
)
LABEL = OpenApiParameter(
    "label", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The block's label (free text, URL-encoded: `目标`, `reading-list`; never `/`).",
)
DIFF_ID = OpenApiParameter(
    "diff_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The proposal's id."
)


def owner_parameter(owner: str) -> OpenApiParameter:
    return USER_ID if owner == "user" else NAMESPACE


# --- headers ----------------------------------------------------------------------------------

ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304],
    description='The block\'s version as a strong entity tag, e.g. `"3"`.',
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='An ETag from an earlier read (e.g. `"3"`): 304 Not Modified while the block is '
    "still at that version.",
)
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='The version the proposal was written against, as an ETag (`"3"`). When the block '
    "has moved on, the answer is 412 `version_mismatch` and nothing is stored. Ignored for `create`.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="Any unique string (≤255 printable ASCII characters, e.g. a UUID) per intended "
    "proposal. Repeating the request with the same key and body replays the first answer (same "
    "status and body, plus `Idempotent-Replayed: true`) without creating a second proposal; the "
    "same key with a different body is 409 `idempotency_key_reused`. Keys are scoped per API key.",
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[201],
    description="`true` when this answer is the replay of an earlier request with the same Idempotency-Key.",
)
LOCATION = OpenApiParameter(
    "Location", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[201],
    description="Where to poll the proposal: `/api/v1/diffs/{id}/`.",
)
