"""Scoped agent keys (design.md §5 "Least privilege"): every route needs its scope, 403
`scope_required` without it; the defaults leave learners' OpenWebUI keys out; the schema and the
tool definitions say what each operation needs; `create_agent_key --scopes / --list`."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from chats import selectors as chat_selectors
from chats import services as chat_services
from tests.factories import make_agent_key, make_block, propose
from tests.support import api, api_routes, assert_error, client_for_key, route_path
from youlab import keys
from youlab.actors import Actor
from youlab.api.permissions import ANY_SCOPE
from youlab.models import ALL_SCOPES, DEFAULT_SCOPES, AgentKey

pytestmark = pytest.mark.django_db

OWUI_KEY = "sk-owui-0123456789abcdefWXYZ"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_agent_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def world(staff_user):
    block = make_block(owner_id="maya", label="student", content="# Student\nName: Maya\n")
    make_block(owner_type="shared", owner_id="course", label="student", content="shared\n")
    diff = propose(block, "append", text="Likes chess")
    chat_services.upsert_module_chat(user_id="maya", agent_id="tutor", module_id="m1", chat_id="c1",
                                     by=Actor.system())
    chat_services.set_user_key(user_id="maya", key=OWUI_KEY, by=Actor.system())
    return {"block": block, "diff": diff}


def request(client, method, path):
    body = {"GET": None, "DELETE": None}.get(method, {})
    return getattr(client, method.lower())(path, body, format="json") if body is not None else \
        getattr(client, method.lower())(path)


# --- every route, every method ----------------------------------------------------------------


def _cases():
    return [(name, template, method, rule) for name, template, rules in api_routes()
            for method, rule in rules.items()]


def test_every_api_route_declares_its_access_for_every_method_it_serves():
    routes = api_routes()
    assert len(routes) >= 20  # blocks, shared blocks, diffs, chats, keys, export, tools
    for name, _, rules in routes:
        for method, rule in rules.items():
            assert rule.scope in (*ALL_SCOPES, ANY_SCOPE, None), (name, method)
            assert rule.scope is not None or rule.permissions, f"{name} {method}: staff route without a permission"


@pytest.mark.parametrize("name,template,method,rule", _cases(), ids=[f"{c[0]}-{c[2]}" for c in _cases()])
def test_a_key_without_the_routes_scope_gets_403_scope_required(world, name, template, method, rule):
    path = route_path(template, diff_id=world["diff"].pk)
    others = [s for s in ALL_SCOPES if s != rule.scope]
    response = request(client_for_key(make_agent_key("lacking", scopes=others)[1]), method, path)
    if rule.scope is None:
        assert_error(response, 403, "permission_denied")  # staff routes refuse every agent key
        return
    if rule.scope == ANY_SCOPE:
        assert response.status_code == 200
        return
    error = assert_error(response, 403, "scope_required")
    assert error["details"] == {"scope": rule.scope}
    assert rule.scope in error["message"]
    # The scope alone is enough to get past the check.
    alone = request(client_for_key(make_agent_key("exact", scopes=[rule.scope])[1]), method, path)
    assert alone.status_code not in (401, 403), (alone.status_code, alone.content)


def test_a_refused_call_changes_nothing(world):
    client = client_for_key(make_agent_key("reader", scopes=["memory:read"])[1])
    before = chat_selectors.get_user_key_record(user_id="maya").fingerprint
    for method, path, body in [
        ("post", api("users", "maya", "blocks", "student", "diffs"), {"operation": "append", "text": "x"}),
        ("put", api("users", "maya", "module-chats", "tutor", "m1"), {"chat_id": "c2"}),
        ("delete", api("users", "maya", "module-chats", "tutor", "m1"), None),
        ("put", api("users", "maya", "owui-key"), {"key": "sk-another-key-12345678"}),
        ("delete", api("users", "maya", "owui-key"), None),
    ]:
        assert_error(getattr(client, method)(path, body, format="json"), 403, "scope_required")
    from diffs.models import PendingDiff

    assert PendingDiff.objects.count() == 1
    assert chat_selectors.get_module_chat(user_id="maya", agent_id="tutor", module_id="m1").chat_id == "c1"
    assert chat_selectors.get_user_key_record(user_id="maya").fingerprint == before


# --- learners' OpenWebUI keys: only with owui-key:read, and every read is on the learner page ----


def test_the_default_scopes_leave_out_learners_keys_and_reads_are_recorded(world, client, staff_user):
    key = run("tutor")[0].strip()
    assert AgentKey.objects.get(name="tutor").scopes == list(DEFAULT_SCOPES)
    tutor = client_for_key(key)
    assert tutor.get(api("users", "maya", "blocks", "student")).status_code == 200
    error = assert_error(tutor.get(api("users", "maya", "owui-key")), 403, "scope_required")
    assert error["details"] == {"scope": "owui-key:read"}
    assert OWUI_KEY not in str(error)

    reader_key = run("owui-bridge", "--scopes", "owui-key:read")[0].strip()
    reader = AgentKey.objects.get(name="owui-bridge")
    response = client_for_key(reader_key).get(api("users", "maya", "owui-key"))
    assert response.status_code == 200 and response.json()["key"] == OWUI_KEY

    client.force_login(staff_user)
    page = client.get(reverse("staff:learner", args=["maya"])).content.decode()
    reads = page[page.index('id="key-reads"'):]
    assert "owui-bridge" in reads and reader.prefix in reads and "Read by agents" in page
    assert "(1)" in reads
    assert OWUI_KEY not in page
    # The refused read by `tutor` was not a read.
    assert "tutor" not in reads.split("</table>")[0]


def test_each_plaintext_read_is_one_row_with_key_name_learner_and_time(world):
    from chats.models import OwuiKeyRead

    api_key, key = make_agent_key("bridge", scopes=["owui-key:read"])
    client = client_for_key(key)
    before = timezone.now()
    for _ in range(3):
        assert client.get(api("users", "maya", "owui-key")).status_code == 200
    reads = list(OwuiKeyRead.objects.order_by("id").values("user_id", "agent_key_name", "agent_key_prefix",
                                                           "read_at"))
    assert len(reads) == 3
    assert {(r["user_id"], r["agent_key_name"], r["agent_key_prefix"]) for r in reads} == {
        ("maya", "bridge", api_key.prefix)}
    assert all(before - timedelta(seconds=1) <= r["read_at"] <= timezone.now() for r in reads)
    # A staff read is the masked form: nothing to record. A missing key: nothing read.
    assert client.get(api("users", "nobody", "owui-key")).status_code == 404
    assert OwuiKeyRead.objects.count() == 3


# --- the command -----------------------------------------------------------------------------


def test_create_agent_key_scopes_option_and_list():
    run("tutor")
    run("bridge", "--scopes", "owui-key:write, owui-key:read")
    assert AgentKey.objects.get(name="bridge").scopes == ["owui-key:read", "owui-key:write"]
    out, _ = run("--list")
    lines = {line.split("\t")[0]: line.split("\t") for line in out.strip().splitlines()}
    assert lines["tutor"][3] == "memory:read,memory:propose,chats"
    assert lines["bridge"][3] == "owui-key:read,owui-key:write"
    assert lines["tutor"][5] == "never used"


@pytest.mark.parametrize("scopes", ["memory:write", "chats,owui-key", "", " , "])
def test_unknown_or_empty_scopes_are_refused(scopes):
    with pytest.raises(CommandError, match="scope"):
        run("tutor", "--scopes", scopes)
    assert not AgentKey.objects.exists()


def test_last_used_at_is_noted_at_most_once_a_minute(world):
    api_key, key = make_agent_key("tutor")
    client = client_for_key(key)
    assert client.get(api("tools")).status_code == 200
    first = AgentKey.objects.get(pk=api_key.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    assert client.get(api("tools")).status_code == 200
    assert AgentKey.objects.get(pk=api_key.pk).last_used_at == first
    AgentKey.objects.filter(pk=api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    keys_module_cache_cleared()
    assert client.get(api("tools")).status_code == 200
    assert AgentKey.objects.get(pk=api_key.pk).last_used_at > first


def keys_module_cache_cleared():
    """A minute later: the verified key and the "used this minute" mark have expired."""
    from django.core.cache import cache

    cache.clear()


def test_keys_service_refuses_bad_names_and_scopes():
    with pytest.raises(keys.AgentKeyError):
        keys.create_agent_key(name="has space")
    with pytest.raises(keys.AgentKeyError):
        keys.create_agent_key(name="tutor", scopes=["memory:write"])
    with pytest.raises(keys.AgentKeyError):
        keys.create_agent_key(name="tutor", scopes=[])
    api_key, secret = keys.create_agent_key(name="tutor")
    assert api_key.scopes == list(DEFAULT_SCOPES) and secret.startswith(api_key.prefix + ".")


# --- what the schema and the tools say ---------------------------------------------------------


def test_the_openapi_schema_names_each_operations_scope_and_staff_permissions(world):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    declared = {}
    for _, template, rules in api_routes():
        path = "/" + template.lstrip("/")
        import re

        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
        for method, rule in rules.items():
            declared[(path, method.lower())] = rule
    assert declared
    for (path, method), rule in declared.items():
        operation = schema["paths"][path][method]
        assert operation["x-scope"] == rule.scope, (path, method)
        assert operation["x-staff-permissions"] == list(rule.permissions), (path, method)
        assert "**Access:**" in operation["description"]
        if rule.scope not in (None, ANY_SCOPE):
            assert f"`{rule.scope}`" in operation["description"]
    assert "scope_required" in schema["paths"]["/api/v1/users/{user_id}/owui-key/"]["get"]["responses"]["403"][
        "description"]


def test_the_tool_definitions_say_which_scope_each_needs(world):
    definitions = client_for_key(make_agent_key("reader", scopes=["memory:read"])[1]).get(api("tools")).json()
    scopes = {d["function"]["name"]: d["function"]["description"] for d in definitions}
    assert "`memory:read`" in scopes["memory_view"] and "`memory:read`" in scopes["memory_list_proposals"]
    for name in ("memory_append", "memory_str_replace", "memory_insert", "memory_rethink", "memory_create"):
        assert "`memory:propose`" in scopes[name], name


def test_keys_made_before_scopes_keep_every_scope():
    """What migration youlab 0002 does, on rows djangorestframework-api-key made (the upgrade
    itself runs in tests/chats/test_upgrade.py)."""
    from importlib import import_module

    from django.apps import apps as live_apps
    from django.db import connection
    from rest_framework_api_key.models import APIKey

    old, secret = APIKey.objects.create_key(name="veteran")
    migration = import_module("youlab.migrations.0002_keys_made_before_scopes")
    with connection.schema_editor() as editor:
        migration.forwards(live_apps, editor)
    assert not APIKey.objects.exists()
    moved = AgentKey.objects.get(pk=old.pk)
    assert moved.scopes == list(ALL_SCOPES) and moved.prefix == old.prefix
    make_block(owner_id="maya", label="student")
    chat_services.set_user_key(user_id="maya", key=OWUI_KEY, by=Actor.system())
    assert client_for_key(secret).get(api("users", "maya", "owui-key")).json()["key"] == OWUI_KEY
