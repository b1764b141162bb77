"""The Letta REST reader against recorded 0.11.7 and 0.16.8 servers replayed over HTTP: the
exact requests, the token, what REST cannot show, malformed answers.

No Dolt database is used: the readers only produce records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importing import letta
from importing.letta import ImportSourceError
from importing.records import OWNER_USER

from .conftest import FIXTURES, PG_FIXTURES, U5, U6, by_owner, split


# --- REST specifics --------------------------------------------------------------------------


def test_api_0117_requests_are_exactly_the_recorded_ones(letta_replay, manifest_0117):
    replay = letta_replay(FIXTURES / "api")
    list(letta.read_api(replay.url))
    course = manifest_0117["shared_blocks"]["course"]["id"]
    assert replay.requests == [
        "/v1/health/",
        "/v1/agents/count",
        "/v1/agents/?limit=50",
        "/v1/blocks/count",
        "/v1/blocks/?limit=100",  # one big page: 0.11.7's after= paging on blocks is broken
        f"/v1/blocks/{course}/agents?include_relationships=memory",  # finds the hidden agent
        "/v1/identities/?limit=50",
    ]
    assert replay.unknown == []


def test_api_0168_requests_are_exactly_the_recorded_ones(letta_replay, manifest_0168):
    replay = letta_replay(PG_FIXTURES / "api")
    list(letta.read_api(replay.url))
    include = "include=agent.blocks&include=agent.tags&include=agent.identities"
    course = manifest_0168["shared_blocks"]["course"]["id"]
    assert replay.requests == [
        "/v1/health/",
        "/v1/agents/count",
        f"/v1/agents/?limit=50&{include}",
        "/v1/blocks/count",
        "/v1/blocks/?limit=100",
        f"/v1/blocks/{course}/agents?{include}",
        "/v1/identities/?limit=50",
    ]
    assert replay.unknown == []


def test_api_sends_the_token(letta_replay):
    replay = letta_replay(FIXTURES / "api")
    list(letta.read_api(replay.url + "/", token="s3cret"))
    assert {h.get("Authorization") for h in replay.headers} == {"Bearer s3cret"}


def test_api_reports_what_rest_cannot_show(letta_replay):
    replay = letta_replay(PG_FIXTURES / "api")
    _, blocks, skipped = split(list(letta.read_api(replay.url)))
    keyed = by_owner(blocks)
    # The hidden archived_notes block is invisible over 0.16.8 REST: counted, not listed.
    assert (OWNER_USER, U5, "archived_notes") not in keyed
    assert any(s.kind == "block" and "says 40 but only 39" in s.reason for s in skipped)
    # Soft deletes are invisible over REST: the scratchpad comes back live, and that is said.
    assert keyed[(OWNER_USER, U6, "scratchpad")].deleted is False
    assert any(s.key == "is_deleted" for s in skipped)
    assert any(s.key == "agents" and "hidden agents" in s.reason for s in skipped)


def test_api_0117_template_names_are_unknown_but_owners_are_not(letta_replay):
    replay = letta_replay(FIXTURES / "api")
    _, blocks, _ = split(list(letta.read_api(replay.url)))
    assert all("template_name" not in b.metadata["letta"] for b in blocks)
    # The detached scratchpad has no agent: its owner comes from its youlab metadata.
    scratchpad = by_owner(blocks)[(OWNER_USER, U6, "scratchpad")]
    assert scratchpad.metadata["letta"]["agents"] == []


def test_api_missing_hidden_agent_is_reported(tmp_path, letta_replay):
    # A 0.11.7 server whose shared block's agents cannot be listed: the hidden agent stays
    # unknown, the count says so, and its inline persona has no owner.
    api = tmp_path / "api"
    api.mkdir()
    src = FIXTURES / "api"
    index = [line for line in (src / "INDEX.tsv").read_text().splitlines()
             if "/agents?include_relationships" not in line.split("\t")[2]
             or line.startswith("file")]
    (api / "INDEX.tsv").write_text("\n".join(index) + "\n")
    for line in index[1:]:
        name = line.split("\t")[0]
        (api / name).write_bytes((src / name).read_bytes())
    replay = letta_replay(api)
    _, blocks, skipped = split(list(letta.read_api(replay.url)))
    assert any(s.kind == "agent" and "says 12 but only 11" in s.reason for s in skipped)
    assert any(s.kind == "block" and "has no owner" in s.reason for s in skipped)
    assert len(replay.unknown) == 1  # the one probe, answered 404 and reported
    assert (OWNER_USER, U6, "student") in by_owner(blocks)


# --- malformed answers ------------------------------------------------------------------------


def write_api(folder: Path, responses: dict[str, tuple[int, object]]) -> Path:
    folder.mkdir()
    lines = ["file\tmethod\tpath\thttp_status"]
    for i, (path, (status, body)) in enumerate(responses.items()):
        name = f"r{i}.json"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        (folder / name).write_bytes(data)
        lines.append(f"{name}\tGET\t{path}\t{status}")
    (folder / "INDEX.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_api_malformed_items_are_reported(tmp_path, letta_replay):
    good_block = {"id": "block-1", "label": "human", "value": "hi", "limit": 10,
                  "metadata": {"youlab_user_id": "u"}}
    api = write_api(tmp_path / "api", {
        "/v1/health/": (200, {"version": "0.11.7", "status": "ok"}),
        "/v1/agents/count": (500, {"detail": "boom"}),
        "/v1/agents/?limit=50": (200, [
            "junk",
            {"id": "agent-1", "name": "youlab_u_tutor", "metadata": {},
             "memory": {"blocks": [good_block, {"id": "block-2", "label": "x"}]}},
        ]),
        "/v1/blocks/count": (200, "many"),
        "/v1/blocks/?limit=100": (200, [good_block, {"id": "block-3", "value": None}]),
        "/v1/blocks/block-1/agents?include_relationships=memory": (200, {"not": "a list"}),
        "/v1/identities/?limit=50": (200, [7]),
    })
    replay = letta_replay(api)
    learners, blocks, skipped = split(list(letta.read_api(replay.url)))
    assert replay.unknown == []
    assert [r.user_id for r in learners] == ["u"]
    assert [(b.owner_id, b.label, b.content) for b in blocks] == [("u", "human", "hi")]
    reasons = {(s.kind, s.key): s.reason for s in skipped}
    assert reasons[("row", "agents")] == "agent is a str, not an object"
    assert reasons[("row", "block/block-2")] == "value is NULL"
    assert reasons[("row", "block/block-3")] == "label is NULL"
    assert ("note", "/v1/agents/count") in reasons
    assert ("row", "identities") in reasons


def test_api_that_is_not_letta_raises(tmp_path, letta_replay):
    replay = letta_replay(write_api(tmp_path / "api", {"/": (200, {})}))
    with pytest.raises(ImportSourceError, match="does not look like a Letta server"):
        letta.read_api(replay.url)
    replay = letta_replay(write_api(tmp_path / "api2", {
        "/v1/health/": (200, {"version": "0.16.8"}),
        "/v1/agents/count": (200, 0),
        "/v1/agents/?limit=50&include=agent.blocks&include=agent.tags&include=agent.identities":
            (200, b"<html>oops</html>"),
    }))
    with pytest.raises(ImportSourceError, match="cannot list Letta data"):
        letta.read_api(replay.url)
    with pytest.raises(ImportSourceError, match="cannot reach"):
        letta.read_api("http://127.0.0.1:1", timeout=2)
