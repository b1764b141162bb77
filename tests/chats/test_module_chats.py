"""Module chats on Dolt: set, change, clear, history, concurrency, and their API routes."""

import json
import threading

import pytest
from django.db import connection, transaction

from chats import selectors, services
from chats.exceptions import ModuleChatNotFound
from chats.models import HistoricalModuleChat, ModuleChat
from tests.conftest import raw_connect
from tests.support import assert_error, table_count
from youlab import dolt
from youlab.actors import Actor
from youlab.errors import InvalidInput

TRIPLE = {"user_id": "learner-1", "agent_id": "tutor", "module_id": "module-1"}
URL = "/api/v1/users/learner-1/module-chats/tutor/module-1/"
LIST_URL = "/api/v1/users/learner-1/module-chats/"


def _history(**triple):
    rows = HistoricalModuleChat.objects.filter(**(triple or TRIPLE)).order_by("history_date", "history_id")
    return [(r.history_type, r.chat_id, r.actor, r.history_change_reason) for r in rows]


# --- services ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_set_get_change_and_setting_the_same_chat_again_writes_nothing():
    chat, created = services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=Actor.agent("tutor"))
    assert created and chat.chat_id == "chat-a"
    assert selectors.get_module_chat(**TRIPLE).chat_id == "chat-a"

    again, created = services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=Actor.agent("tutor"))
    assert not created and again.pk == chat.pk

    changed, created = services.upsert_module_chat(**TRIPLE, chat_id="chat-b", by=Actor.agent("other"))
    assert not created and changed.pk == chat.pk
    assert selectors.get_module_chat(**TRIPLE).chat_id == "chat-b"
    assert _history() == [
        ("+", "chat-a", "agent:tutor", "Set"),
        ("~", "chat-b", "agent:other", "Changed"),
    ]


@pytest.mark.django_db
def test_clear_then_the_next_get_is_404_and_a_new_chat_can_be_set(staff_user):
    services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=Actor.agent("tutor"))
    services.clear_module_chat(**TRIPLE, by=Actor.staff(staff_user))

    with pytest.raises(ModuleChatNotFound):
        selectors.get_module_chat(**TRIPLE)
    assert list(selectors.list_module_chats(user_id="learner-1")) == []
    with pytest.raises(ModuleChatNotFound):  # clearing twice: nothing to clear
        services.clear_module_chat(**TRIPLE, by=Actor("staff", "rita"))

    chat, created = services.upsert_module_chat(**TRIPLE, chat_id="chat-b", by=Actor.agent("tutor"))
    assert created  # a new chat for the module, on the same row
    assert ModuleChat.objects.filter(**TRIPLE).count() == 1
    # Every chat id the module had, who cleared it and when, stays in the history.
    assert _history() == [
        ("+", "chat-a", "agent:tutor", "Set"),
        ("~", "", "staff:rita", "Cleared"),
        ("~", "chat-b", "agent:tutor", "Set"),
    ]
    cleared = HistoricalModuleChat.objects.get(chat_id="")
    assert cleared.history_user == staff_user and cleared.history_date is not None


@pytest.mark.django_db
def test_list_is_per_learner_and_leaves_out_cleared_chats():
    for agent, module in [("tutor", "m2"), ("tutor", "m1"), ("coach", "m1")]:
        services.upsert_module_chat(user_id="learner-1", agent_id=agent, module_id=module,
                                    chat_id=f"{agent}-{module}", by=Actor.system())
    services.upsert_module_chat(user_id="learner-2", agent_id="tutor", module_id="m1",
                                chat_id="other", by=Actor.system())
    services.clear_module_chat(user_id="learner-1", agent_id="coach", module_id="m1", by=Actor.system())

    assert [c.chat_id for c in selectors.list_module_chats(user_id="learner-1")] == ["tutor-m1", "tutor-m2"]
    assert [c.chat_id for c in selectors.list_module_chats(user_id="learner-1", agent_id="coach")] == []
    assert list(selectors.list_module_chats(user_id="nobody")) == []


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["user_id", "agent_id", "module_id", "chat_id"])
@pytest.mark.parametrize("bad", ["", "   ", "a/b", "a\\b", "tab\there", "nul\x00", "c1\x85", " lead", "x" * 256, None])
def test_ids_are_validated(field, bad):
    values = {**TRIPLE, "chat_id": "chat-a", field: bad}
    with pytest.raises(InvalidInput) as excinfo:
        services.upsert_module_chat(**values, by=Actor.system())
    assert excinfo.value.details["field"] == field
    if isinstance(bad, str) and any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in bad):
        assert excinfo.value.details["code_point"] in {"U+0009", "U+0000", "U+0085"}
    assert ModuleChat.objects.count() == 0


@pytest.mark.django_db
def test_unicode_ids_are_fine():
    triple = {"user_id": "学习者", "agent_id": "tütor 🙂", "module_id": "模块 1"}
    services.upsert_module_chat(**triple, chat_id="c" * 255, by=Actor.system())
    assert selectors.get_module_chat(**triple).chat_id == "c" * 255


# --- Dolt: commits and concurrency ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_write_is_one_dolt_commit_by_its_author():
    tutor = Actor.agent("tutor")  # author "agent:tutor <agent@youlab.local>"
    count = dolt.log_count()
    services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=tutor)
    services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=tutor)  # no-op
    services.clear_module_chat(**TRIPLE, by=tutor)

    assert dolt.log_count() == count + 2
    clear, put = dolt.log(limit=2)
    assert put.message == "Set module chat learner-1/tutor/module-1 -> chat-a (agent:tutor)"
    assert clear.message == "Clear module chat learner-1/tutor/module-1 (was chat-a) (agent:tutor)"
    assert (clear.author, clear.email) == ("agent:tutor", "agent@youlab.local")
    assert dolt.status() == []  # nothing left uncommitted


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_second_row_for_a_triple_from_a_concurrent_client():
    """Below the services: two open transactions insert the same triple; Dolt fails the second
    COMMIT (its merge finds the unique-constraint violation), which is what the retry handles."""
    other = raw_connect(connection.settings_dict["NAME"], autocommit=False)
    insert = ("INSERT INTO module_chats (user_id, agent_id, module_id, chat_id, created_at, updated_at) "
              "VALUES (%s, %s, %s, %s, NOW(6), NOW(6))")
    try:
        with pytest.raises(Exception) as excinfo:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(insert, ["learner-1", "tutor", "module-1", "mine"])
                with other.cursor() as cursor:
                    cursor.execute(insert, ["learner-1", "tutor", "module-1", "theirs"])
                other.commit()
        assert dolt.is_serialization_failure(excinfo.value), excinfo.value
    finally:
        other.close()
    assert list(ModuleChat.objects.values_list("chat_id", flat=True)) == ["theirs"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_upserts_of_one_triple_leave_one_row():
    """Two connections both read "no chat yet" before either writes (a barrier holds each one
    right after its first SELECT), so both try to insert; the loser is retried and updates."""
    barrier = threading.Barrier(2, timeout=30)
    results, errors = {}, []

    def worker(chat_id):
        paused = False

        def pause_after_first_read(execute, sql, params, many, context):
            nonlocal paused
            result = execute(sql, params, many, context)
            if not paused and sql.lstrip().upper().startswith("SELECT") and "`module_chats`" in sql:
                paused = True
                barrier.wait()
            return result

        try:
            with connection.execute_wrapper(pause_after_first_read):
                results[chat_id] = services.upsert_module_chat(
                    **TRIPLE, chat_id=chat_id, by=Actor.agent(chat_id),
                )
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in ("chat-a", "chat-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    rows = list(ModuleChat.objects.filter(**TRIPLE))
    assert len(rows) == 1
    created = sorted(created for _, created in results.values())
    assert created == [False, True]  # one created the row, the other (retried) updated it
    winner = next(c for c, (_, was_created) in results.items() if was_created)
    loser = next(c for c, (_, was_created) in results.items() if not was_created)
    assert rows[0].chat_id == loser  # the retried writer came last
    assert _history() == [
        ("+", winner, f"agent:{winner}", "Set"),
        ("~", loser, f"agent:{loser}", "Changed"),
    ]
    assert dolt.status() == []


# --- API -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_put_get_list_delete_as_an_agent(agent):
    assert_error(agent.get(URL), 404, "module_chat_not_found")

    response = agent.put(URL, {"chat_id": "chat-a"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("user_id", "agent_id", "module_id", "chat_id")} == {**TRIPLE, "chat_id": "chat-a"}
    assert set(body) == {"user_id", "agent_id", "module_id", "chat_id", "created_at", "updated_at"}

    assert agent.put(URL, {"chat_id": "chat-a"}, format="json").status_code == 200
    assert agent.put(URL, {"chat_id": "chat-b"}, format="json").status_code == 200
    assert agent.get(URL).json()["chat_id"] == "chat-b"

    agent.put("/api/v1/users/learner-1/module-chats/tutor/module-2/", {"chat_id": "chat-c"}, format="json")
    listing = agent.get(LIST_URL, {"limit": 1})
    assert listing.status_code == 200
    page = listing.json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert page["results"][0]["module_id"] == "module-1"
    assert agent.get(LIST_URL, {"agent_id": "nobody"}).json()["count"] == 0
    assert agent.get("/api/v1/users/unknown/module-chats/").json()["count"] == 0

    assert agent.delete(URL).status_code == 204
    assert_error(agent.get(URL), 404, "module_chat_not_found")
    assert_error(agent.delete(URL), 404, "module_chat_not_found")
    assert agent.put(URL, {"chat_id": "chat-d"}, format="json").status_code == 201
    assert [(t, c, a) for t, c, a, _ in _history()] == [
        ("+", "chat-a", "agent:tutor"), ("~", "chat-b", "agent:tutor"),
        ("~", "", "agent:tutor"), ("~", "chat-d", "agent:tutor"),
    ]
    assert HistoricalModuleChat.objects.filter(history_user__isnull=False).count() == 0


@pytest.mark.django_db
def test_api_as_staff_records_the_staff_user(staff, staff_user):
    assert staff.put(URL, {"chat_id": "chat-a"}, format="json").status_code == 201
    assert staff.get(URL).json()["chat_id"] == "chat-a"
    assert staff.get(LIST_URL).json()["count"] == 1
    assert staff.delete(URL).status_code == 204
    rows = HistoricalModuleChat.objects.order_by("history_id")
    assert [(r.actor, r.history_user) for r in rows] == [("staff:rita", staff_user)] * 2


@pytest.mark.django_db
@pytest.mark.parametrize("client_name", ["anon", "revoked", "expired", "bad_key"])
def test_api_refuses_callers_without_a_valid_key(request, client_name):
    services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=Actor.system())
    client = request.getfixturevalue(client_name)
    for response in [
        client.get(URL), client.get(LIST_URL), client.delete(URL),
        client.put(URL, {"chat_id": "chat-b"}, format="json"),
    ]:
        assert response.status_code in (401, 403)
        assert response.json()["error"]["code"] in ("not_authenticated", "authentication_failed", "permission_denied")
    assert selectors.get_module_chat(**TRIPLE).chat_id == "chat-a"
    assert table_count("module_chat_history") == 1


@pytest.mark.django_db
def test_api_non_staff_session_is_refused(django_user_model):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(django_user_model.objects.create_user(username="learner", password="x"))
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, body, code",
    [
        (URL, {}, "invalid_input"),
        (URL, {"chat_id": ""}, "invalid_input"),
        (URL, {"chat_id": None}, "invalid_input"),
        (URL, {"chat_id": 42}, "invalid_input"),  # not refused by DRF (it coerces), see below
        (URL, {"chat_id": "x" * 256}, "invalid_input"),
        (URL, {"chat_id": "a/b"}, "invalid_input"),
        (URL, {"chat_id": " padded "}, "invalid_input"),
        (URL, {"chat_id": "bell\x07"}, "invalid_input"),
        ("/api/v1/users/learner-1/module-chats/tutor/mod%01ule/", {"chat_id": "ok"}, "invalid_input"),
        ("/api/v1/users/%20learner/module-chats/tutor/m/", {"chat_id": "ok"}, "invalid_input"),
        (f"/api/v1/users/{'u' * 256}/module-chats/tutor/m/", {"chat_id": "ok"}, "invalid_input"),
    ],
)
def test_api_bad_input_is_a_400_and_writes_nothing(agent, url, body, code):
    services.upsert_module_chat(**TRIPLE, chat_id="before", by=Actor.system())
    response = agent.put(url, body, format="json")
    if body.get("chat_id") == 42:
        # DRF's CharField accepts numbers as their text; "42" is a well-formed chat id.
        assert response.status_code == 200
        return
    assert_error(response, 400, code)
    assert selectors.get_module_chat(**TRIPLE).chat_id == "before"
    assert table_count("module_chats") == 1 and table_count("module_chat_history") == 1


@pytest.mark.django_db
def test_api_malformed_json_is_a_400(agent):
    response = agent.generic("PUT", URL, "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert table_count("module_chats") == 0


@pytest.mark.django_db
def test_api_bad_ids_on_reads_are_400(agent):
    assert_error(agent.get("/api/v1/users/learner-1/module-chats/tutor/a%00b/"), 400, "invalid_input")
    assert_error(agent.get("/api/v1/users/a%7Fb/module-chats/"), 400, "invalid_input")
    assert_error(agent.delete("/api/v1/users/learner-1/module-chats/%09/m/"), 400, "invalid_input")


@pytest.mark.django_db(transaction=True)
def test_api_writes_are_dolt_commits_by_the_agent(agent):
    agent.put(URL, {"chat_id": "chat-a"}, format="json")
    entry = dolt.log(limit=1)[0]
    assert (entry.author, entry.email) == ("agent:tutor", "agent@youlab.local")
    assert "learner-1/tutor/module-1" in entry.message


# --- admin and schema ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_chats_shows_history_and_clears_through_the_service(client, staff_user):
    chat, _ = services.upsert_module_chat(**TRIPLE, chat_id="chat-a", by=Actor.agent("tutor"))
    services.upsert_module_chat(**TRIPLE, chat_id="chat-b", by=Actor.agent("tutor"))
    client.force_login(staff_user)

    changelist = client.get("/admin/chats/modulechat/")
    assert changelist.status_code == 200 and "chat-b" in changelist.content.decode()
    history = client.get(f"/admin/chats/modulechat/{chat.pk}/history/")
    assert history.status_code == 200
    assert "chat-a" in history.content.decode() and "agent:tutor" in history.content.decode()
    assert client.get("/admin/chats/modulechat/add/").status_code == 403

    response = client.post(
        "/admin/chats/modulechat/", {"action": "clear_chats", "_selected_action": [chat.pk]}
    )
    assert response.status_code == 302
    with pytest.raises(ModuleChatNotFound):
        selectors.get_module_chat(**TRIPLE)
    last = HistoricalModuleChat.objects.order_by("-history_id").first()
    assert (last.chat_id, last.actor, last.history_user) == ("", "staff:rita", staff_user)
    assert "(cleared)" in client.get("/admin/chats/modulechat/").content.decode()


@pytest.mark.django_db
def test_the_openapi_schema_documents_the_chats_routes(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    detail = paths["/api/v1/users/{user_id}/module-chats/{agent_id}/{module_id}/"]
    assert {"get", "put", "delete"} <= set(detail)
    assert "requestBody" in detail["put"] and {"200", "201", "400"} <= set(detail["put"]["responses"])
    assert "get" in paths["/api/v1/users/{user_id}/module-chats/"]
    key = paths["/api/v1/users/{user_id}/owui-key/"]
    assert {"get", "put", "delete"} <= set(key) and "503" in key["put"]["responses"]
    assert "get" in paths["/api/v1/users/{user_id}/export/"]


@pytest.mark.django_db(transaction=True)
def test_refused_requests_leave_no_dolt_commit_and_nothing_uncommitted(agent, anon):
    agent.put(URL, {"chat_id": "chat-a"}, format="json")
    count = dolt.log_count()
    assert agent.put(URL, {"chat_id": "a/b"}, format="json").status_code == 400
    assert agent.put(URL, {"chat_id": "chat-a"}, format="json").status_code == 200  # no change
    assert anon.put(URL, {"chat_id": "chat-b"}, format="json").status_code == 401
    assert agent.delete("/api/v1/users/learner-1/module-chats/tutor/other/").status_code == 404
    assert dolt.log_count() == count
    assert dolt.status() == []
