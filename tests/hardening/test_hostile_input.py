"""Hostile input across the API: every answer is a 4xx in the JSON error shape, and nothing is
written (blocks, history, proposals and the Dolt working set are as before).

Bodies: oversized, invalid UTF-8 (overlong forms, lone continuation bytes, a BOM), a UTF-16
charset, 1 MB `old_str` (and one character more), absurdly nested JSON, duplicate keys, NaN,
lone surrogates, NUL, non-objects, wrong content types. Paths: labels with `/`, `..`, `.`,
NUL, backslash, control characters, surrounding spaces, 256+ characters, very long owner and diff
ids; unroutable paths are the API's JSON 404. Headers and query strings: malformed or enormous
If-Match / Idempotency-Key, limits, filters. Staff routes get the same treatment.
"""

from __future__ import annotations

import json

import pytest

from tests.factories import make_block, propose
from tests.support import api, assert_error, snapshot
from youlab import dolt

pytestmark = pytest.mark.django_db

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"
PROPOSE = api("users", "maya", "blocks", "student", "diffs")
MB = 1_000_000


def deep(depth: int, inner="[]") -> str:
    return "[" * depth + inner + "]" * depth


def body(method="POST", path=PROPOSE, data: bytes | None = None, content_type="application/json", who="agent",
         **headers):
    return {"method": method, "path": path, "data": data, "content_type": content_type, "who": who,
            "headers": headers}


def jbody(payload, **kwargs):
    return body(data=json.dumps(payload).encode(), **kwargs)


def approve_path(world):
    return api("diffs", world["diff"].pk, "approve")


# (id, request, expected status, expected error code)
CASES = [
    # --- sizes
    # The body limit (12.5 MB) holds one text at the 1,000,000-character limit however it is
    # escaped (an astral character is 12 bytes as json.dumps sends it), and nothing much more.
    ("body-over-upload-limit", jbody({"operation": "append", "text": "x" * 13 * MB}), 413, "request_too_large"),
    ("emoji-old-str-12-mb-escaped-fits", jbody({"operation": "str_replace", "old_str": "🙂" * MB, "new_str": "x"}),
     400, "old_str_not_found"),
    ("emoji-old-str-over-body-limit", jbody({"operation": "str_replace", "old_str": "🙂" * (MB + 50_000),
                                             "new_str": "x"}), 413, "request_too_large"),
    ("old-str-1-mb-not-found", jbody({"operation": "str_replace", "old_str": "z" * MB, "new_str": "x"}),
     400, "old_str_not_found"),
    ("old-str-1-mb-plus-one", jbody({"operation": "str_replace", "old_str": "z" * (MB + 1), "new_str": "x"}),
     400, "invalid_arguments"),
    ("text-1-mb-over-char-limit", jbody({"operation": "append", "text": "y" * MB}), 400, "over_char_limit"),
    ("reasoning-too-long", jbody({"operation": "append", "text": "x", "reasoning": "r" * 20_001}),
     400, "invalid_input"),
    # --- encodings
    ("invalid-utf8", body(data=b'{"operation": "append", "text": "\xff\xfe"}'), 400, "parse_error"),
    ("overlong-utf8-slash", body(data=b'{"operation": "append", "text": "\xc0\xaf"}'), 400, "parse_error"),
    ("lone-continuation-byte", body(data=b'{"operation": "append", "text": "a\x80"}'), 400, "parse_error"),
    ("utf8-bom", body(data=b'\xef\xbb\xbf{"operation": "append", "text": "x"}'), 400, "parse_error"),
    ("utf16-charset-on-utf8", body(data=b'{"operation": "append", "text": "x"}',
                                   content_type="application/json; charset=utf-16"), 400, "parse_error"),
    ("lone-surrogate", body(data=b'{"operation": "append", "text": "\\ud800"}'), 400, "parse_error"),
    ("lone-surrogate-in-key", body(data=b'{"operation": "append", "text": "x", "\\udfff": 1}'), 400,
     "parse_error"),
    ("nul-in-text", jbody({"operation": "append", "text": "a\u0000b"}), 400, "invalid_arguments"),
    ("nul-in-operation", jbody({"operation": "app\u0000end", "text": "x"}), 400, "invalid_input"),
    # --- JSON shapes
    ("nested-100k-deep", body(data=deep(100_000).encode()), 400, "parse_error"),
    ("metadata-nested-100k-deep", body(data=('{"operation": "append", "text": "x", "metadata": '
                                             + deep(100_000, "{}") + "}").encode()), 400, "parse_error"),
    ("metadata-nested-500-deep", body(data=('{"operation": "append", "text": "x", "metadata": '
                                            + deep(500, '{"a": 1}') + "}").encode()), 400, "invalid_arguments"),
    ("arguments-nested-objects", jbody({"operation": "append", "arguments": {"text": {"a": {"b": [1]}}}}),
     400, "invalid_arguments"),
    ("create-description-nested", jbody({"operation": "create", "content": "x", "description": {"a": [[{}]]}},
                                        path=api("users", "maya", "blocks", "new-block", "diffs")),
     400, "invalid_arguments"),
    ("duplicate-keys", body(data=b'{"operation": "append", "text": "a", "text": "b"}'), 400, "parse_error"),
    ("nan", body(data=b'{"operation": "insert", "insert_line": NaN, "text": "x"}'), 400, "parse_error"),
    ("huge-number", body(data=b'{"operation": "insert", "insert_line": 1e400, "text": "x"}'), 400,
     "invalid_arguments"),
    ("huge-integer", jbody({"operation": "insert", "insert_line": 10**40, "text": "x"}), 400, "invalid_arguments"),
    ("trailing-garbage", body(data=b'{"operation": "append", "text": "x"} {}'), 400, "parse_error"),
    ("body-is-a-list", body(data=b'[{"operation": "append", "text": "x"}]'), 400, "invalid_input"),
    ("body-is-a-string", body(data=b'"append"'), 400, "invalid_input"),
    ("body-is-null", body(data=b"null"), 400, "invalid_input"),
    ("empty-body", body(data=b""), 400, "invalid_input"),
    ("operation-is-an-object", jbody({"operation": {"$ne": None}, "text": "x"}), 400, "invalid_input"),
    # --- content types
    ("text-plain", body(data=b'{"operation": "append", "text": "x"}', content_type="text/plain"), 415,
     "unsupported_media_type"),
    ("form-urlencoded", body(data=b"operation=append&text=x", content_type="application/x-www-form-urlencoded"),
     415, "unsupported_media_type"),
    ("multipart", body(data=b'--b\r\nContent-Disposition: form-data; name="operation"\r\n\r\nappend\r\n--b--\r\n',
                       content_type="multipart/form-data; boundary=b"), 415, "unsupported_media_type"),
    ("big-multipart", body(data=b"x" * 3 * MB, content_type="multipart/form-data; boundary=b"), 415,
     "unsupported_media_type"),
    ("xml", body(data=b"<operation>append</operation>", content_type="application/xml"), 415,
     "unsupported_media_type"),
    ("no-content-type", body(data=b'{"operation": "append", "text": "x"}', content_type=""), 415,
     "unsupported_media_type"),
    # --- paths
    ("label-with-encoded-slash", body(path="/api/v1/users/maya/blocks/stu%2Fdent/diffs/", data=b"{}"), 404,
     "not_found"),
    ("label-dot-dot", jbody({"operation": "append", "text": "x"}, path="/api/v1/users/maya/blocks/../diffs/"),
     400, "invalid_input"),
    ("label-encoded-dot-dot", body(method="GET", path="/api/v1/users/maya/blocks/%2E%2E/"), 400, "invalid_input"),
    ("label-dot", body(method="GET", path="/api/v1/users/maya/blocks/./"), 400, "invalid_input"),
    ("label-nul", jbody({"operation": "append", "text": "x"}, path="/api/v1/users/maya/blocks/stu%00dent/diffs/"),
     400, "invalid_input"),
    ("label-backslash", body(method="GET", path="/api/v1/users/maya/blocks/a%5Cb/"), 400, "invalid_input"),
    ("label-control-char", body(method="GET", path="/api/v1/users/maya/blocks/a%7Fb/"), 400, "invalid_input"),
    ("label-newline", body(method="GET", path="/api/v1/users/maya/blocks/a%0Ab/history/"), 400, "invalid_input"),
    ("label-surrounding-space", body(method="GET", path="/api/v1/users/maya/blocks/%20student/"), 400,
     "invalid_input"),
    ("label-256-chars", body(method="GET", path=api("users", "maya", "blocks", "l" * 256)), 400, "invalid_input"),
    ("label-100k-chars", jbody({"operation": "create", "content": "x"},
                               path=api("users", "maya", "blocks", "l" * 100_000, "diffs")), 400, "invalid_input"),
    ("emoji-label-unknown", body(method="GET", path=api("users", "maya", "blocks", "🙂🎓")), 404,
     "block_not_found"),
    ("broken-percent-encoding", body(method="GET", path="/api/v1/users/maya/blocks/%FF%FE/"), 404,
     "block_not_found"),
    ("owner-nul", body(method="GET", path="/api/v1/users/ma%00ya/blocks/"), 400, "invalid_input"),
    ("owner-100k-chars", body(method="GET", path=api("users", "m" * 100_000, "blocks")), 400, "invalid_input"),
    ("owner-backslash", jbody({"operation": "append", "text": "x"},
                              path="/api/v1/users/ma%5Cya/blocks/student/diffs/"), 400, "invalid_input"),
    ("diff-id-100k-chars", body(method="GET", path=api("diffs", "d" * 100_000)), 404, "diff_not_found"),
    ("diff-id-sql-ish", body(method="GET", path=api("diffs", "1' OR '1'='1")), 404, "diff_not_found"),
    ("unroutable", body(method="GET", path="/api/v1/users/maya/nowhere/"), 404, "not_found"),
    ("unroutable-nul", body(method="GET", path="/api/v1/%00/"), 404, "not_found"),
    ("unroutable-dot-dot", body(method="GET", path="/api/v1/../../admin/"), 404, "not_found"),
    ("delete-a-block", body(method="DELETE", path=api("users", "maya", "blocks", "student")), 405,
     "method_not_allowed"),
    ("put-a-proposal", jbody({"operation": "append", "text": "x"}, method="PUT"), 405, "method_not_allowed"),
    # --- headers and query strings
    ("if-match-list", jbody({"operation": "append", "text": "x"}, HTTP_IF_MATCH='"1", "2"'), 400, "invalid_header"),
    ("if-match-huge-number", jbody({"operation": "append", "text": "x"}, HTTP_IF_MATCH='"' + "9" * 40 + '"'), 400,
     "invalid_header"),
    ("if-match-100k", jbody({"operation": "append", "text": "x"}, HTTP_IF_MATCH="x" * 100_000), 400,
     "invalid_header"),
    ("idempotency-key-non-ascii", jbody({"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY="clé"), 400,
     "invalid_header"),
    ("idempotency-key-10k", jbody({"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY="k" * 10_000), 400,
     "invalid_header"),
    ("idempotency-key-control", jbody({"operation": "append", "text": "x"}, HTTP_IDEMPOTENCY_KEY="a\tb"), 400,
     "invalid_header"),
    ("limit-20-digits", body(method="GET", path=api("users", "maya", "blocks", query="limit=" + "9" * 20)), 400,
     "invalid_input"),
    ("status-nul", body(method="GET", path=api("users", "maya", "diffs", query="status=%00")), 400,
     "invalid_input"),
    ("label-filter-100k", body(method="GET", path=api("users", "maya", "diffs", query="label=" + "l" * 100_000)),
     400, "invalid_input"),
    ("authorization-garbage", body(method="GET", path=api("users", "maya", "blocks"), who="anon",
                                   HTTP_AUTHORIZATION="Api-Key " + "\u00e9" * 5000), 401,
     "authentication_failed"),
    ("authorization-100k", body(method="GET", path=api("users", "maya", "blocks"), who="anon",
                                HTTP_AUTHORIZATION="Api-Key " + "k" * 100_000), 401, "authentication_failed"),
    ("authorization-long-prefix", body(method="GET", path=api("users", "maya", "blocks"), who="anon",
                                       HTTP_AUTHORIZATION="Api-Key " + "p" * 60 + ".secret"), 401,
     "authentication_failed"),
    # --- other agent routes
    ("chat-ids-100k", body(method="GET", path=api("users", "maya", "module-chats", "a" * 100_000, "m")), 400,
     "invalid_input"),
    ("chat-put-nested", body(method="PUT", path=api("users", "maya", "module-chats", "tutor", "m1"),
                             data=('{"chat_id": ' + deep(100_000) + "}").encode()), 400, "parse_error"),
    ("chat-put-long-chat-id", jbody({"chat_id": "c" * 100_000}, method="PUT",
                                    path=api("users", "maya", "module-chats", "tutor", "m1")), 400, "invalid_input"),
    ("owui-key-owner-100k", body(method="GET", path=api("users", "u" * 100_000, "owui-key")), 400,
     "invalid_input"),
    ("export-owner-nul", body(method="GET", path="/api/v1/users/ma%00ya/export/", who="staff"), 400,
     "invalid_input"),
    # --- staff routes
    ("approve-edited-1-mb-plus-one", jbody({"edited_content": "e" * (MB + 1)}, path=approve_path, who="staff"),
     400, "invalid_input"),
    ("approve-invalid-utf8", body(data=b'{"note": "\xed\xa0\x80"}', path=approve_path, who="staff"), 400,
     "parse_error"),
    ("approve-note-nested", body(data=('{"note": ' + deep(100_000) + "}").encode(), path=approve_path,
                                 who="staff"), 400, "parse_error"),
    ("approve-wrong-content-type", body(data=b"note=x", content_type="application/x-www-form-urlencoded",
                                        path=approve_path, who="staff"), 415, "unsupported_media_type"),
    ("reject-reason-object", jbody({"reason": {"why": "no"}}, path=lambda w: api("diffs", w["diff"].pk, "reject"),
                                   who="staff"), 400, "invalid_input"),
    ("revert-version-huge", jbody({"version": 2**40}, path=api("users", "maya", "blocks", "student", "revert"),
                                  who="staff"), 400, "invalid_input"),
    ("revert-version-float", body(data=b'{"version": 1e400}', path=api("users", "maya", "blocks", "student",
                                                                        "revert"), who="staff"), 400,
     "invalid_input"),
    ("revert-version-negative", jbody({"version": -1}, path=api("users", "maya", "blocks", "student", "revert"),
                                      who="staff"), 400, "invalid_input"),
]


@pytest.fixture
def world(agent, staff, staff_user):
    block = make_block(owner_id="maya", label="student", content=STUDENT, char_limit=5000)
    make_block(owner_id="maya", label="journey", content="x" * 200)
    diff = propose(block, "append", text="Likes chess")
    return {"agent": agent, "staff": staff, "anon": None, "block": block, "diff": diff}


def send(world, request):
    from rest_framework.test import APIClient

    client = world[request["who"]] or APIClient()
    path = request["path"](world) if callable(request["path"]) else request["path"]
    kwargs = dict(request["headers"])
    if request["data"] is not None or request["method"] in ("POST", "PUT", "PATCH"):
        return client.generic(request["method"], path, request["data"] or b"",
                              content_type=request["content_type"], **kwargs)
    return client.generic(request["method"], path, **kwargs)


@pytest.mark.parametrize("request_,status,code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_requests_are_refused_in_the_error_shape_and_write_nothing(world, request_, status, code):
    before = snapshot()
    dolt_status = dolt.status()
    response = send(world, request_)
    assert_error(response, status, code)
    assert 400 <= response.status_code < 500
    assert snapshot() == before
    assert dolt.status() == dolt_status


def test_the_same_hostile_texts_where_they_are_legal_round_trip_exactly(world):
    """Emoji labels, NUL-free control-heavy and 1 MB texts are data, not attacks: stored as sent."""
    agent = world["agent"]
    text = "🙂 学习 café\u200b\u202e reversed \r\n tab\t " + "ü" * 1000
    response = agent.post(api("users", "maya", "blocks", "🙂 目标", "diffs"),
                          {"operation": "create", "content": text}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["proposed_content"] == text and response.json()["label"] == "🙂 目标"
    big = "w" * MB
    response = agent.post(api("users", "maya", "blocks", "journey", "diffs"), {"operation": "rethink", "content": big},
                          format="json")
    assert response.status_code == 201 and len(response.json()["proposed_content"]) == len(big)
