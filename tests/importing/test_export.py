"""A learner's export: its content, the API route and commands, and the exact round trip."""

import copy
import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from blocks import services as block_services
from blocks.models import Block, HistoricalBlock, OwnerType
from chats import crypto, selectors, services
from chats.models import HistoricalModuleChat, ModuleChat
from diffs.models import DiffStatus, PendingDiff
from importing import restore
from importing.export import build_user_export, comparable
from learners import services as learner_services
from learners.models import HistoricalLearner, Learner
from learners.selectors import user_ids_named
from tests.factories import make_block
from tests.support import assert_error, use_database
from youlab import dolt
from youlab.actors import Actor

KEY = "sk-9c1e0b7a4f2d4e6b8a3c5d7e9f1a2b3c"
USER = "learner-1"


def build_learner(staff_user, *, with_key=True, user_id=USER):
    """A learner with a bit of everything: versions, a soft delete, diffs, cleared chats."""
    student = make_block(
        owner_id=user_id, label="student", content="Likes maths.", description="Who they are",
        char_limit=5000, metadata={"letta": {"block_id": "block-1"}, "tags": ["ü", 1, None]},
        by=Actor.importer("letta"), reason="Imported from Letta",
    )
    HistoricalBlock.objects.filter(id=student.pk, version=1).update(import_key="letta:bh-1")
    approved = PendingDiff.objects.create(
        owner_id=user_id, label="student", block=student, operation="append",
        arguments={"text": "Prefers mornings."}, proposed_content="Likes maths.\nPrefers mornings.",
        preview="@@ -1 +1,2 @@", base_version=1, reasoning="They said so", agent_key_name="tutor",
        agent_id="agent-7", status=DiffStatus.APPROVED, reviewer=staff_user,
        reviewed_at=timezone.now(), review_note="fine", applied_version=2,
        idempotency_key="idem-1", request_fingerprint="f" * 64, response_body={"id": "x"},
        metadata={"source": "api"},
    )
    block_services.update_block_content(
        block=student, content="Likes maths.\nPrefers mornings.", by=Actor.staff(staff_user),
        reason=f"Approve diff {approved.pk}", diff_id=approved.pk,
    )
    goal = make_block(owner_id=user_id, label="目标", content="学习🙂 naïve\r\n\t\"'\\", by=Actor.agent("tutor"))
    block_services.set_block_deleted(block=goal, deleted=True, by=Actor.staff(staff_user))
    PendingDiff.objects.create(
        owner_id=user_id, label="student", block=student, operation="str_replace",
        arguments={"old_str": "maths", "new_str": "algebra"}, base_version=2, agent_key_name="tutor",
    )
    PendingDiff.objects.create(
        owner_id=user_id, label="journey", operation="create", arguments={"content": "Week 1"},
        agent_key_name="tutor", status=DiffStatus.CONFLICT, conflict_reason="label exists",
    )
    for chat_id in ("chat-a", "chat-b"):
        services.upsert_module_chat(user_id=user_id, agent_id="tutor", module_id="m1", chat_id=chat_id, by=Actor.agent("tutor"))
    services.clear_module_chat(user_id=user_id, agent_id="tutor", module_id="m1", by=Actor.staff(staff_user))
    services.upsert_module_chat(user_id=user_id, agent_id="tutor", module_id="m1", chat_id="chat-c", by=Actor.agent("tutor"))
    services.upsert_module_chat(user_id=user_id, agent_id="coach", module_id="m2", chat_id="chat-x", by=Actor.agent("coach"))
    services.clear_module_chat(user_id=user_id, agent_id="coach", module_id="m2", by=Actor.agent("coach"))
    if with_key:
        services.set_user_key(user_id=user_id, key=KEY, by=Actor.agent("tutor"))
    learner_services.set_learner_profile(user_id=user_id, display_name="Maya Thompson", by=Actor.importer("letta"))
    learner_services.set_learner_profile(user_id=user_id, display_name="Maya T.", email="maya@example.org",
                                         by=Actor.staff(staff_user))
    # Not theirs: a shared block and another learner's data.
    make_block(owner_id=user_id, label="course", owner_type=OwnerType.SHARED)
    make_block(owner_id="learner-2", label="student")
    services.upsert_module_chat(user_id="learner-2", agent_id="tutor", module_id="m1", chat_id="other", by=Actor.system())
    return student, goal


# --- the document --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_export_holds_everything_about_the_learner_and_no_secret(staff_user):
    student, goal = build_learner(staff_user)
    doc = build_user_export(USER)

    assert (doc["format"], doc["format_version"], doc["user_id"]) == ("youlab-export", 2, USER)
    profile = doc["profile"]
    assert (profile["display_name"], profile["email"], profile["updated_by"]) == ("Maya T.", "maya@example.org", "staff:rita")
    assert [(h["display_name"], h["updated_by"], h["history_user"], h["history_type"]) for h in profile["history"]] == [
        ("Maya Thompson", "import:letta", None, "+"), ("Maya T.", "staff:rita", "rita", "~")]
    assert [b["label"] for b in doc["blocks"]] == ["student", "目标"]
    exported = doc["blocks"][0]
    assert exported["id"] == str(student.pk) and exported["version"] == 2
    assert exported["metadata"] == {"letta": {"block_id": "block-1"}, "tags": ["ü", 1, None]}
    assert [
        (v["version"], v["content"], v["actor"], v["history_change_reason"], v["history_user"], v["import_key"])
        for v in exported["history"]
    ] == [
        (1, "Likes maths.", "import:letta", "Imported from Letta", None, "letta:bh-1"),
        (2, "Likes maths.\nPrefers mornings.", "staff:rita", f"Approve diff {doc['diffs'][0]['id']}", "rita", None),
    ]
    assert exported["history"][1]["diff_id"] == doc["diffs"][0]["id"]
    assert all(v["history_date"].endswith("Z") for v in exported["history"])
    deleted = doc["blocks"][1]
    assert deleted["deleted_at"] and deleted["content"] == "学习🙂 naïve\r\n\t\"'\\"
    assert [v["deleted_at"] is not None for v in deleted["history"]] == [False, True]

    assert [d["status"] for d in doc["diffs"]] == ["approved", "pending", "conflict"]
    assert doc["diffs"][0]["reviewer"] == "rita" and doc["diffs"][2]["block_id"] is None
    assert not {"idempotency_key", "request_fingerprint", "response_body"} & set(doc["diffs"][0])

    chats = {(c["agent_id"], c["module_id"]): c for c in doc["module_chats"]}
    assert chats[("tutor", "m1")]["chat_id"] == "chat-c"
    assert chats[("coach", "m2")]["chat_id"] == ""  # cleared
    assert [(h["chat_id"], h["actor"], h["history_user"]) for h in chats[("tutor", "m1")]["history"]] == [
        ("chat-a", "agent:tutor", None), ("chat-b", "agent:tutor", None),
        ("", "staff:rita", "rita"), ("chat-c", "agent:tutor", None),
    ]

    assert doc["owui_key"] == {
        "present": True, "fingerprint": crypto.fingerprint(KEY), "last4": "2b3c",
        "created_at": doc["owui_key"]["created_at"], "updated_at": doc["owui_key"]["updated_at"],
    }
    text = json.dumps(doc, ensure_ascii=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT s.ciphertext FROM user_api_key_secrets AS s JOIN user_api_keys AS k "
                       "ON k.id = s.key_id WHERE k.user_id = %s", [USER])
        (ciphertext,) = cursor.fetchone()
    assert KEY not in text and ciphertext not in text and ciphertext[:24] not in text
    assert "learner-2" not in text and "course" not in text


@pytest.mark.django_db
def test_history_rows_are_the_learners_own_even_when_ids_differ_only_by_case():
    learner_services.set_learner_profile(user_id="Maya", display_name="Upper", by=Actor.system())
    learner_services.set_learner_profile(user_id="maya", display_name="Lower", by=Actor.system())
    services.upsert_module_chat(user_id="Maya", agent_id="tutor", module_id="m1", chat_id="upper", by=Actor.system())
    services.upsert_module_chat(user_id="maya", agent_id="tutor", module_id="m1", chat_id="lower", by=Actor.system())
    doc = build_user_export("maya")
    assert [h["display_name"] for h in doc["profile"]["history"]] == ["Lower"]
    assert [h["chat_id"] for c in doc["module_chats"] for h in c["history"]] == ["lower"]


@pytest.mark.django_db
def test_an_unknown_learner_gives_an_empty_document():
    doc = build_user_export("nobody")
    assert (doc["profile"], doc["blocks"], doc["diffs"], doc["module_chats"]) == (None, [], [], [])
    assert doc["owui_key"]["present"] is False


# --- the round trip ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_key", [False, True])
def test_export_import_into_a_fresh_database_and_export_again_is_the_same(
    fresh_database, staff_user, tmp_path, capsys, with_key,
):
    build_learner(staff_user, with_key=with_key)
    path = tmp_path / "learner-1.json"
    call_command("export_user", USER, "-o", str(path))
    first = json.loads(path.read_text(encoding="utf-8"))
    first_versions = HistoricalBlock.objects.filter(owner_type=OwnerType.USER, owner_id=USER).count()

    with use_database(fresh_database):
        assert connection.settings_dict["NAME"] == fresh_database
        assert not Block.objects.exists() and not ModuleChat.objects.exists()
        # The reviewer has an account here too (users are linked by username).
        get_user_model().objects.create_user(username="rita", password="x", is_staff=True)
        commits = dolt.log_count()

        call_command("import_export", str(path))

        out = capsys.readouterr().out
        assert "imported learner learner-1: 2 block(s), 4 version(s), 3 diff(s), 2 module chat(s)" in out
        assert "their profile (name)" in out
        assert dolt.log_count() == commits + 1  # one Dolt commit for the whole import
        assert dolt.log(limit=1)[0].message.startswith("Import learner learner-1 from a youlab-export document")
        assert dolt.status() == []
        second = build_user_export(USER)
        # The restored data works like any other.
        assert selectors.get_module_chat(user_id=USER, agent_id="tutor", module_id="m1").chat_id == "chat-c"
        chat = ModuleChat.objects.get(user_id=USER, agent_id="tutor", module_id="m1")
        assert chat.history.count() == 4  # simple-history finds its rows under the new row id
        student = Block.objects.get(owner_id=USER, label="student")
        assert [h.version for h in student.history.order_by("version")] == [1, 2]
        assert HistoricalBlock.objects.filter(owner_type=OwnerType.USER, owner_id=USER).count() == first_versions == 4
        # The profile comes back with its history, and the learner is found by name.
        learner = Learner.objects.get(user_id=USER)
        assert (learner.display_name, learner.updated_by) == ("Maya T.", "staff:rita")
        assert [h.display_name for h in learner.history.order_by("history_date")] == ["Maya Thompson", "Maya T."]
        assert user_ids_named("maya") == [USER]

        # Importing the same document again changes nothing.
        call_command("import_export", str(path))
        assert "already exactly this export" in capsys.readouterr().out
        assert dolt.log_count() == commits + 1

    if with_key:
        # A key is never exported, so it cannot come back: the learner sets it again.
        assert first["owui_key"]["present"] and not second["owui_key"]["present"]
        assert comparable(second) == comparable(first)
    else:
        assert {k: v for k, v in second.items() if k != "exported_at"} == {
            k: v for k, v in first.items() if k != "exported_at"
        }


@pytest.mark.django_db(transaction=True)
def test_import_warns_when_a_user_it_links_to_is_missing(fresh_database, staff_user, tmp_path, capsys):
    build_learner(staff_user, with_key=True)
    path = tmp_path / "learner-1.json"
    call_command("export_user", USER, "-o", str(path))
    with use_database(fresh_database):
        call_command("import_export", str(path))
        err = capsys.readouterr().err
        assert "no local user for rita" in err and "must set it again" in err
        doc = build_user_export(USER)
    versions = [v for b in doc["blocks"] for v in b["history"]]
    assert {v["history_user"] for v in versions} == {None}
    assert {v["actor"] for v in versions} >= {"staff:rita"}  # who did it is still there


# --- import refusals -----------------------------------------------------------------------------


def _exported(staff_user):
    build_learner(staff_user, with_key=False)
    return build_user_export(USER)


def _write(tmp_path, document) -> str:
    path = tmp_path / "doc.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return str(path)


@pytest.mark.django_db
def test_import_refuses_a_learner_who_already_has_other_data(staff_user, tmp_path, capsys):
    doc = _exported(staff_user)
    call_command("import_export", _write(tmp_path, doc))  # the same data: nothing to do
    assert "nothing to do" in capsys.readouterr().out

    changed = copy.deepcopy(doc)
    changed["blocks"][0]["content"] = "something else"
    with pytest.raises(CommandError, match="already has data"):
        call_command("import_export", _write(tmp_path, changed))

    # The same ids under another learner's name: block ids are global.
    moved = json.loads(json.dumps(doc).replace('"learner-1"', '"learner-9"'))
    with pytest.raises(CommandError, match="already exist"):
        call_command("import_export", _write(tmp_path, moved))
    assert not Block.objects.filter(owner_id="learner-9").exists()


def _as_another_learner(doc, user_id):
    """The document as if of another learner, with block and diff ids nobody has yet."""
    doc = json.loads(json.dumps(doc).replace(f'"{USER}"', f'"{user_id}"'))
    for block in doc["blocks"]:
        block["id"] = block["id"][:-4] + "beef"
    for diff in doc["diffs"]:
        diff["id"] = diff["id"][:-4] + "cafe"
        if diff["block_id"]:
            diff["block_id"] = diff["block_id"][:-4] + "beef"
    return doc


@pytest.mark.django_db
def test_a_version_1_document_without_a_profile_still_imports(staff_user, tmp_path, capsys):
    doc = _exported(staff_user)
    doc = _as_another_learner(doc, "learner-7")
    doc["format_version"] = 1
    del doc["profile"]
    call_command("import_export", _write(tmp_path, doc))
    assert "imported learner learner-7" in capsys.readouterr().out
    assert not Learner.objects.filter(user_id="learner-7").exists()
    call_command("import_export", _write(tmp_path, doc))  # and again: nothing to do
    assert "nothing to do" in capsys.readouterr().out
    with pytest.raises(CommandError, match="unknown key"):
        call_command("import_export", _write(tmp_path, {**doc, "profile": None}))


@pytest.mark.django_db
def test_dry_run_checks_everything_and_writes_nothing(staff_user, tmp_path, capsys):
    doc = _exported(staff_user)
    doc = _as_another_learner(doc, "learner-5")
    call_command("import_export", _write(tmp_path, doc), "--dry-run")
    assert "would import learner learner-5: 2 block(s)" in capsys.readouterr().out
    assert not Block.objects.filter(owner_id="learner-5").exists()
    assert not ModuleChat.objects.filter(user_id="learner-5").exists()


def _mutations():
    def setter(path, value):
        def mutate(doc):
            target = doc
            for key in path[:-1]:
                target = target[key]
            if value is KeyError:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        return mutate

    return [
        ("format", setter(["format"], "something-else"), "not a youlab-export document"),
        ("version", setter(["format_version"], 3), "unsupported format_version 3"),
        ("missing profile", setter(["profile"], KeyError), "missing key(s): profile"),
        ("profile owner", setter(["profile", "user_id"], "learner-2"), "profile: belongs to learner learner-2"),
        ("profile history", setter(["profile", "history", 0, "user_id"], "learner-2"), "profile.history[0]: belongs to"),
        ("profile email", setter(["profile", "email"], 7), "profile.email: expected a string"),
        ("missing blocks", setter(["blocks"], KeyError), "missing key(s): blocks"),
        ("unknown top key", setter(["extra"], 1), "unknown key(s): extra"),
        ("bad user id", setter(["user_id"], "a/b"), "user_id may not contain"),
        ("blocks not a list", setter(["blocks"], {}), "blocks: expected a list of objects"),
        ("missing label", setter(["blocks", 0, "label"], KeyError), "blocks[0].label: missing"),
        ("bad uuid", setter(["blocks", 0, "id"], "nope"), "blocks[0].id: expected a UUID"),
        ("naive date", setter(["blocks", 0, "created_at"], "2026-01-01T00:00:00"), "blocks[0].created_at: expected an ISO 8601"),
        ("bad version", setter(["blocks", 0, "version"], "2"), "blocks[0].version: expected an integer"),
        ("negative", setter(["blocks", 0, "version"], -1), "non-negative"),
        ("bool", setter(["blocks", 0, "read_only"], "no"), "blocks[0].read_only: expected true or false"),
        ("owner", setter(["blocks", 0, "owner_id"], "learner-2"), "not learner learner-1"),
        ("owner type", setter(["blocks", 0, "owner_type"], "shared"), "not learner learner-1"),
        ("choice", setter(["blocks", 0, "history", 0, "history_type"], "?"), "must be one of"),
        ("unknown field", setter(["blocks", 0, "colour"], "red"), "unknown field(s) colour"),
        ("history not a list", setter(["blocks", 0, "history"], None), "blocks[0].history: expected a list"),
        ("dup version", setter(["blocks", 0, "history", 1, "version"], 1), "version 1 appears twice"),
        ("too long", setter(["blocks", 0, "label"], "x" * 256), "longer than 255 characters"),
        ("null text", setter(["blocks", 0, "content"], None), "may not be null"),
        ("surrogate", setter(["blocks", 0, "content"], "\ud800"), "lone surrogate"),
        ("diff block", setter(["diffs", 0, "block_id"], "00000000-0000-0000-0000-000000000001"), "not one of the document's blocks"),
        ("diff status", setter(["diffs", 0, "status"], "maybe"), "diffs[0].status: must be one of"),
        ("chat owner", setter(["module_chats", 0, "user_id"], "learner-2"), "belongs to learner learner-2"),
        ("reviewer", setter(["diffs", 0, "reviewer"], 7), "expected a username or null"),
        ("key section", setter(["owui_key"], None), "owui_key: expected an object"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("name, mutate, message", _mutations(), ids=[m[0] for m in _mutations()])
def test_invalid_documents_are_refused_clearly_and_write_nothing(staff_user, tmp_path, name, mutate, message):
    doc = _exported(staff_user)
    # The learner leaves this database, so only the document's problem can stop the import.
    Block.objects.filter(owner_id=USER).delete()
    PendingDiff.objects.filter(owner_id=USER).delete()
    ModuleChat.objects.filter(user_id=USER).delete()
    HistoricalModuleChat.objects.filter(user_id=USER).delete()
    HistoricalBlock.objects.filter(owner_id=USER).delete()
    Learner.objects.filter(user_id=USER).delete()
    HistoricalLearner.objects.filter(user_id=USER).delete()
    mutate(doc)
    with pytest.raises(CommandError) as excinfo:
        call_command("import_export", _write(tmp_path, doc))
    assert message in str(excinfo.value)
    assert not Block.objects.filter(owner_id=USER).exists()
    assert not ModuleChat.objects.filter(user_id=USER).exists()


@pytest.mark.django_db
def test_import_of_something_that_is_not_json(tmp_path):
    with pytest.raises(CommandError, match="is not a JSON document"):
        call_command("import_export", _write(tmp_path, "{nope"))
    with pytest.raises(CommandError, match="must be a JSON object"):
        call_command("import_export", _write(tmp_path, "[]"))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_export", str(tmp_path / "missing.json"))


# --- the API route and the command ---------------------------------------------------------------


@pytest.mark.django_db
def test_api_export_for_agents_and_staff(staff_user, agent, staff, capsys):
    build_learner(staff_user)
    from_agent = agent.get(f"/api/v1/users/{USER}/export/")
    from_staff = staff.get(f"/api/v1/users/{USER}/export/")
    assert from_agent.status_code == from_staff.status_code == 200
    assert comparable(from_agent.json()) == comparable(from_staff.json()) == comparable(build_user_export(USER))
    assert KEY not in from_agent.content.decode()

    call_command("export_user", USER)
    out, err = capsys.readouterr()
    assert comparable(json.loads(out)) == comparable(from_agent.json())
    assert "exported learner learner-1: 2 block(s), 4 version(s), 3 diff(s), 2 module chat(s)" in err

    call_command("export_user", "nobody")
    assert "has no data" in capsys.readouterr().err


@pytest.mark.django_db
@pytest.mark.parametrize("client_name", ["anon", "revoked", "expired", "bad_key"])
def test_api_export_refuses_callers_without_a_valid_key(request, client_name):
    response = request.getfixturevalue(client_name).get(f"/api/v1/users/{USER}/export/")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_api_export_bad_user_id(agent):
    assert_error(agent.get("/api/v1/users/a%00b/export/"), 400, "invalid_input")
    with pytest.raises(CommandError, match="user_id may not contain"):
        call_command("export_user", "a\\b")


@pytest.mark.django_db
def test_dates_survive_to_the_microsecond(staff_user):
    block = make_block(owner_id=USER, label="precise")
    moment = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=dt.timezone.utc)
    HistoricalBlock.objects.filter(id=block.pk).update(history_date=moment)
    doc = build_user_export(USER)
    assert doc["blocks"][0]["history"][0]["history_date"] == "2024-02-29T23:59:58.123456Z"


@pytest.mark.django_db
def test_chat_history_without_its_row_is_exported_and_restored_as_a_cleared_chat():
    services.upsert_module_chat(user_id=USER, agent_id="tutor", module_id="m1", chat_id="chat-a", by=Actor.system())
    ModuleChat.objects.filter(user_id=USER).delete()  # outside the services: history keeps a '-' row
    doc = build_user_export(USER)
    [entry] = doc["module_chats"]
    assert entry["chat_id"] == "" and [h["history_type"] for h in entry["history"]] == ["+", "-"]

    HistoricalModuleChat.objects.filter(user_id=USER).delete()
    restore.import_user_export(document=doc)
    assert comparable(build_user_export(USER)) == comparable(doc)
    with pytest.raises(services.ModuleChatNotFound):
        selectors.get_module_chat(user_id=USER, agent_id="tutor", module_id="m1")
