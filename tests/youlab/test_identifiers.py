"""Display spoofing: labels, owner ids, agent ids and the other identifiers refuse C0 and C1
control characters, DEL, Unicode bidi controls and line/paragraph separators, everywhere they
enter (one rule, youlab.validators), with 400 `invalid_input` naming the offending code point."""

import pytest

from blocks import services as block_services
from chats import services as chat_services
from diffs import services as diff_services
from diffs.models import PendingDiff
from tests.factories import make_block
from tests.youlab.test_api_support import agent, agent_key, api, assert_error, snapshot  # noqa: F401
from youlab.validators import identifier_problem
from youlab.actors import Actor
from youlab.errors import InvalidInput

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
