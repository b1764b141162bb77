"""The OpenAPI schema (drf-spectacular) and the offline Swagger UI."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# The routes of this app's agent API (chats' routes are documented by chats).
OWN = re.compile(r"^/api/v1/(users/\{user_id\}/(blocks|diffs|profile)|shared/|diffs/|tools/)")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def own_operations(schema):
    for path, item in schema["paths"].items():
        if OWN.match(path):
            for method, operation in item.items():
                yield path, method, operation


def test_spectacular_validate_fail_on_warn_passes(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.read_text().startswith("openapi: 3")


def test_every_route_is_documented(schema):
    documented = {(path, method) for path, method, _ in own_operations(schema)}
    expected = set()
    for prefix, owner in (("users", "{user_id}"), ("shared", "{namespace}")):
        base = f"/api/v1/{prefix}/{owner}"
        expected |= {
            (f"{base}/blocks/", "get"), (f"{base}/blocks/{{label}}/", "get"), (f"{base}/blocks/{{label}}/", "patch"),
            (f"{base}/blocks/{{label}}/history/", "get"), (f"{base}/blocks/{{label}}/revert/", "post"),
            (f"{base}/blocks/{{label}}/diffs/", "post"), (f"{base}/blocks/{{label}}/diffs/", "get"),
            (f"{base}/diffs/", "get"),
        }
    expected |= {("/api/v1/users/{user_id}/profile/", "get"), ("/api/v1/users/{user_id}/profile/", "put")}
    expected |= {("/api/v1/diffs/{diff_id}/", "get"), ("/api/v1/diffs/{diff_id}/approve/", "post"),
                 ("/api/v1/diffs/{diff_id}/reject/", "post"), ("/api/v1/tools/", "get")}
    assert documented == expected


def test_every_operation_has_schemas_examples_errors_and_security(schema):
    for path, method, operation in own_operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("tags"), where
        assert {"ApiKeyAuth": []} in operation["security"], where
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, where
        for code in success:
            content = responses[code]["content"]["application/json"]
            assert content["schema"], where
        assert any("examples" in r.get("content", {}).get("application/json", {}) for r in responses.values()) or \
            "examples" in operation.get("requestBody", {}).get("content", {}).get("application/json", {}), where
        for code in ("401", "403", "429"):
            assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                (where, code)
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if method in ("post", "put", "patch"):
            assert operation["requestBody"]["content"]["application/json"]["schema"], where
        params = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
        for name in re.findall(r"\{(\w+)\}", path):
            assert ("path", name) in params, (where, name)


def test_the_error_shape_and_security_scheme_are_components(schema):
    components = schema["components"]
    error = components["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = components["schemas"][error["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert set(detail["properties"]) == {"code", "message", "details"}
    assert set(detail["required"]) == {"code", "message", "details"}
    scheme = components["securitySchemes"]["ApiKeyAuth"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}
    assert {"ApiKeyAuth": []} in schema.get("security", []) or all(
        {"ApiKeyAuth": []} in op["security"] for _, _, op in own_operations(schema))


def test_propose_documents_each_operation_headers_and_examples(schema):
    operation = schema["paths"]["/api/v1/users/{user_id}/blocks/{label}/diffs/"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    proposal = schema["components"]["schemas"]["ProposeRequest"]
    assert body["schema"] == {"$ref": "#/components/schemas/ProposeRequest"}
    assert sorted(proposal["discriminator"]["mapping"]) == ["append", "create", "insert", "rethink", "str_replace"]
    summaries = {example["summary"] for example in body["examples"].values()}
    assert {"str_replace (flattened)", "append (nested arguments)", "Letta names"} <= summaries
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"If-Match", "Idempotency-Key"}
    assert {"201", "400", "401", "403", "404", "409", "412", "413", "429"} <= set(operation["responses"])
    assert set(operation["responses"]["201"]["headers"]) == {"Location", "Idempotent-Replayed"}
    block = schema["paths"]["/api/v1/users/{user_id}/blocks/{label}/"]["get"]
    assert "ETag" in block["responses"]["200"]["headers"] and "304" in block["responses"]


def test_list_routes_document_pagination(schema):
    listing = schema["paths"]["/api/v1/users/{user_id}/blocks/"]["get"]
    ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    paginated = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(paginated["properties"]) == {"count", "next", "previous", "results"}
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "offset"}


def test_schema_and_docs_are_served_without_a_key():
    client = APIClient()
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_swagger_ui_is_served_from_local_sidecar_files_not_a_cdn():
    html = APIClient().get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets) and any("swagger-ui.css" in a for a in assets)
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a local static file"
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "/api/schema/" in html
