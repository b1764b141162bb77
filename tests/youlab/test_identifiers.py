"""Display spoofing: labels, owner ids, agent ids and the other identifiers refuse C0 and C1
control characters, DEL, Unicode bidi controls and line/paragraph separators, everywhere they
enter (one rule, youlab.validators), with 400 `invalid_input` naming the offending code point; and
no identifier begins or ends with spaces, while ids stored with them before that rule stay
readable."""

import pytest

from blocks import services as block_services
from blocks.models import Block
from chats import services as chat_services
from chats.models import ModuleChat
from diffs import services as diff_services
from diffs.models import PendingDiff
from learners.models import Learner
from tests.factories import make_block
from tests.support import api, assert_error, snapshot
from youlab.actors import Actor
from youlab.errors import InvalidInput
from youlab.validators import identifier_problem, validate_identifier, validate_owner_id

pytestmark = pytest.mark.django_db

SPOOFERS = {
    "\u202e": ("U+202E", "RIGHT-TO-LEFT OVERRIDE"),
    "\u2066": ("U+2066", "LEFT-TO-RIGHT ISOLATE"),
    "\u200f": ("U+200F", "RIGHT-TO-LEFT MARK"),
    "\u061c": ("U+061C", "ARABIC LETTER MARK"),
    "\u2028": ("U+2028", "LINE SEPARATOR"),
    "\x1b": ("U+001B", "control character U+001B"),
    "\x7f": ("U+007F", "control character U+007F"),
    "\x85": ("U+0085", "control character U+0085"),
    "\x9b": ("U+009B", "control character U+009B"),
}


@pytest.mark.parametrize("char", list(SPOOFERS), ids=[v[0] for v in SPOOFERS.values()])
def test_the_rule_names_the_code_point(char):
    problem = identifier_problem(f"student{char}txt.exe", "label")
    assert problem is not None
    assert problem.details == {"field": "label", "code_point": SPOOFERS[char][0], "character": SPOOFERS[char][1]}
    assert SPOOFERS[char][0] in problem.message


@pytest.mark.parametrize("value", ["目标", "reading-list", "study plan", "café", "👩‍💻 notes", "🇫🇷", "a\u200db"])
def test_what_people_write_stays_allowed(value):
    assert identifier_problem(value, "label") is None


@pytest.mark.parametrize("char", list(SPOOFERS), ids=[v[0] for v in SPOOFERS.values()])
def test_every_service_refuses_them(char):
    block = make_block(owner_id="maya", label="student", content="x")
    with pytest.raises(InvalidInput) as caught:
        block_services.create_block(owner_id="maya", label=f"gnp{char}.exe", content="x")
    assert caught.value.details["code_point"] == SPOOFERS[char][0]
    with pytest.raises(InvalidInput):
        block_services.create_block(owner_id=f"maya{char}", label="student", content="x")
    with pytest.raises(InvalidInput) as caught:
        diff_services.propose_diff(owner_id="maya", label=block.label, operation="append",
                                   arguments={"text": "y"}, agent_id=f"agent{char}-42", by=Actor.agent("tutor"))
    assert caught.value.details == {"field": "agent_id", "code_point": SPOOFERS[char][0],
                                    "character": SPOOFERS[char][1]}
    with pytest.raises(InvalidInput) as caught:
        chat_services.upsert_module_chat(user_id="maya", agent_id=f"tutor{char}", module_id="m1", chat_id="c",
                                         by=Actor.system())
    assert caught.value.details["code_point"] == SPOOFERS[char][0]
    assert not PendingDiff.objects.exists()


def test_the_api_answers_400_with_the_code_point(agent):
    make_block(owner_id="maya", label="student", content="# Student\n")
    before = snapshot()
    # A bidi label in the path (URL-encoded as a client sends it).
    error = assert_error(agent.get(api("users", "maya", "blocks", "gnp\u202etxt.exe")), 400, "invalid_input")
    assert error["details"] == {"field": "label", "code_point": "U+202E", "character": "RIGHT-TO-LEFT OVERRIDE"}
    error = assert_error(agent.post(api("users", "maya", "blocks", "new\u2066label", "diffs"),
                                    {"operation": "create", "content": "x"}, format="json"), 400, "invalid_input")
    assert error["details"]["code_point"] == "U+2066"
    # An owner id with a C1 control.
    error = assert_error(agent.get(api("users", "maya\x85", "blocks")), 400, "invalid_input")
    assert error["details"] == {"field": "owner_id", "code_point": "U+0085", "character": "control character U+0085"}
    # agent_id in the body.
    error = assert_error(agent.post(api("users", "maya", "blocks", "student", "diffs"),
                                    {"operation": "append", "text": "x", "agent_id": "agent-\u200f42"},
                                    format="json"), 400, "invalid_input")
    assert error["details"]["field"] == "agent_id" and error["details"]["code_point"] == "U+200F"
    # Module chat ids.
    error = assert_error(agent.put(api("users", "maya", "module-chats", "tutor\u202d", "m1"), {"chat_id": "c1"},
                                   format="json"), 400, "invalid_input")
    assert error["details"]["code_point"] == "U+202D"
    assert snapshot() == before


# --- surrounding spaces: refused for anything new, existing data stays readable ------------------


def _imported_before_the_rule(owner_id):
    """A block as an import stored it before ids refused surrounding spaces (the services now
    refuse to write one)."""
    block = Block(owner_id=owner_id, label="student", content="# Student\n")
    block._history_actor = "import:youlab_v1"
    block.save(force_insert=True)
    return block


@pytest.mark.parametrize("spaced", [" maya", "maya ", " maya "])
def test_an_owner_id_with_surrounding_spaces_stays_readable_but_nothing_new_is_written_under_it(
        spaced, agent, staff):
    block = _imported_before_the_rule(spaced)
    for client in (agent, staff):
        assert [b["id"] for b in client.get(api("users", spaced, "blocks")).json()["results"]] == [str(block.pk)]
        assert client.get(api("users", spaced, "blocks", "student")).json()["content"] == "# Student\n"
        assert client.get(api("users", spaced, "blocks", "student", "history")).status_code == 200
        assert client.get(api("users", spaced, "profile")).status_code == 200
        assert client.get(api("users", spaced, "module-chats")).status_code == 200
    before = snapshot()
    for response in (
        agent.post(api("users", spaced, "blocks", "student", "diffs"), {"operation": "append", "text": "x"},
                   format="json"),
        agent.post(api("users", spaced, "blocks", "goals", "diffs"), {"operation": "create", "content": "x"},
                   format="json"),
        agent.put(api("users", spaced, "profile"), {"display_name": "Maya"}, format="json"),
        agent.put(api("users", spaced, "module-chats", "tutor", "m1"), {"chat_id": "c1"}, format="json"),
    ):
        error = assert_error(response, 400, "invalid_input")
        assert "spaces" in error["message"] and error["details"]["field"] in {"owner_id", "user_id"}
    assert snapshot() == before
    with pytest.raises(InvalidInput, match="may not begin or end with spaces"):
        block_services.create_block(owner_id=spaced, label="goals", content="x")
    assert not Learner.objects.exists() and not ModuleChat.objects.exists()


def test_the_stricter_rule_is_the_one_rule_for_every_learner_id():
    for validate in (lambda v: validate_owner_id(v), lambda v: validate_identifier(v, "user_id")):
        with pytest.raises(InvalidInput):
            validate(" maya")
        assert validate("maya") == "maya"
    assert validate_owner_id(" maya", lookup=True) == " maya"
    with pytest.raises(InvalidInput):  # a lookup still refuses what could never be an id
        validate_owner_id("ma\u202eya", lookup=True)
