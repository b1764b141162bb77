"""GET /api/v1/tools/: OpenAI function-calling definitions that cannot drift from the routes."""

import jsonschema
import pytest
from rest_framework.test import APIClient

from blocks.api.serializers import BlockLabelSerializer
from diffs import edits
from diffs.api import tools
from diffs.api.serializers import OPERATION_ARGUMENTS, DiffListFilterSerializer, ProposalReasoningSerializer
from tests.factories import make_block
from tests.support import api, assert_error

pytestmark = pytest.mark.django_db

EXPECTED = {
    "memory_view": (BlockLabelSerializer,),
    "memory_append": (BlockLabelSerializer, OPERATION_ARGUMENTS["append"], ProposalReasoningSerializer),
    "memory_str_replace": (BlockLabelSerializer, OPERATION_ARGUMENTS["str_replace"], ProposalReasoningSerializer),
    "memory_insert": (BlockLabelSerializer, OPERATION_ARGUMENTS["insert"], ProposalReasoningSerializer),
    "memory_rethink": (BlockLabelSerializer, OPERATION_ARGUMENTS["rethink"], ProposalReasoningSerializer),
    "memory_create": (BlockLabelSerializer, OPERATION_ARGUMENTS["create"], ProposalReasoningSerializer),
    "memory_list_proposals": (DiffListFilterSerializer,),
}


@pytest.fixture
def definitions(agent):
    response = agent.get(api("tools"))
    assert response.status_code == 200
    return {d["function"]["name"]: d for d in response.json()}


def test_tools_are_openai_function_definitions(agent, definitions):
    assert list(definitions) == list(EXPECTED)
    for definition in definitions.values():
        assert set(definition) == {"type", "function"} and definition["type"] == "function"
        function = definition["function"]
        assert set(function) == {"name", "description", "parameters"}
        assert function["description"]
        params = function["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False
        jsonschema.Draft202012Validator.check_schema(params)


def test_each_tools_parameters_are_the_route_serializers_fields(definitions):
    for name, serializer_classes in EXPECTED.items():
        params = definitions[name]["function"]["parameters"]
        fields = {}
        for cls in serializer_classes:
            fields.update(cls().fields)
        assert set(params["properties"]) == set(fields), name
        assert set(params.get("required", [])) == {f for f, field in fields.items() if field.required}, name
        for field_name, field in fields.items():
            schema = params["properties"][field_name]
            if getattr(field, "max_length", None):
                assert schema["maxLength"] == field.max_length
            if getattr(field, "min_value", None) is not None:
                assert schema["minimum"] == field.min_value
            if getattr(field, "min_length", None):
                assert schema["minLength"] == field.min_length
            if field.help_text:
                assert schema["description"].startswith(field.help_text)
            assert not any(key.startswith("x-") for key in schema)


def test_argument_serializers_match_the_edit_operations():
    # The operations' own argument table (diffs.edits) and the API's serializers agree.
    for operation in edits.OPERATIONS:
        schema = edits._SCHEMAS[operation]
        fields = OPERATION_ARGUMENTS[operation]().fields
        assert set(fields) == set(schema), operation
        assert {n for n, f in fields.items() if f.required} == {n for n, (_, req) in schema.items() if req}


def test_tool_parameters_equal_the_openapi_components(agent, definitions):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    variants = {"append": "ProposeAppend", "str_replace": "ProposeStrReplace", "insert": "ProposeInsert",
                "rethink": "ProposeRethink", "create": "ProposeCreate"}
    for operation, component in variants.items():
        params = definitions[f"memory_{operation}"]["function"]["parameters"]["properties"]
        documented = components[component]["properties"]
        for name, field_schema in params.items():
            if name != "label":
                assert field_schema == documented[name], (operation, name)
    path = schema["paths"]["/api/v1/users/{user_id}/blocks/{label}/diffs/"]["post"]
    label_param = next(p for p in path["parameters"] if p["name"] == "label")
    assert label_param["in"] == "path"
    listing = schema["paths"]["/api/v1/users/{user_id}/diffs/"]["get"]["parameters"]
    query = {p["name"]: p["schema"] for p in listing if p["in"] == "query"}
    list_params = definitions["memory_list_proposals"]["function"]["parameters"]["properties"]
    for name, field_schema in list_params.items():
        for keyword in ("type", "enum", "maxLength"):
            assert field_schema.get(keyword) == query[name].get(keyword), (name, keyword)


def test_a_tool_call_maps_onto_the_route(agent, definitions):
    """What an agent runtime does with a memory_str_replace call: it works as documented."""
    make_block(owner_id="maya", label="student", content="Name: Maya\n")
    call = {"label": "student", "old_str": "Maya", "new_str": "Mia", "reasoning": "she said so"}
    jsonschema.validate(call, definitions["memory_str_replace"]["function"]["parameters"])
    body = {"operation": "str_replace", **{k: v for k, v in call.items() if k != "label"}}
    response = agent.post(api("users", "maya", "blocks", call["label"], "diffs"), body, format="json")
    assert response.status_code == 201 and response.json()["proposed_content"] == "Name: Mia\n"
    mine = agent.get(api("users", "maya", "diffs", query="mine=true&status=pending")).json()
    assert [d["id"] for d in mine["results"]] == [response.json()["id"]]
    viewed = agent.get(api("users", "maya", "blocks", "student"))
    assert viewed.status_code == 200


def test_every_tool_name_maps_to_a_canonical_operation():
    for tool in tools.TOOLS:
        if tool.operation:
            assert tool.name == tools.TOOL_PREFIX + tool.operation
            assert tool.operation in edits.OPERATIONS


def test_tools_need_a_key(anon):
    assert_error(anon.get(api("tools")), 401, "not_authenticated")
