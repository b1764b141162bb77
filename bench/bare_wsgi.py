"""The least an HTTP read or proposal can cost on this machine: WSGI with no framework.

Served by the same gunicorn set-up as the app (benchlib.Gunicorn(app=APP)), it answers

* ``GET /bare/empty/``: a fixed JSON body, no query (HTTP and gunicorn alone);
* ``GET /bare/block/{owner}/{label}/``: the raw SELECT of the API's block read, as JSON;
* ``GET /bare/list/{owner}/``: COUNT, then the page of rows, as JSON ``{count, results}`` (the
  list route's two statements until it learnt to skip the COUNT);
* ``GET /bare/list-page/{owner}/``: the list route's statements now: the page, and the COUNT only
  when the page is full (youlab.api.pagination.Pagination), as JSON ``{count, results}``;
* ``GET /bare/version/{owner}/{label}/``: one version lookup; 304 when ``If-None-Match`` names
  that version (the API's conditional GET), else the version as JSON;
* ``POST /bare/diffs/{owner}/{label}/``: parses the JSON body, SELECTs the block, INSERTs a
  pending_diffs row like the API's (content appended, no diff preview), answers it as JSON.

No authentication, validation, ORM, history or error handling: a lower bound for the API's
figures, not an alternative to it. The benches time it interleaved with the app, so the
ratios "bare / raw" say how close to raw SQL any HTTP service can get here.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

import MySQLdb

APP = "bench.bare_wsgi:application"
COLUMNS = ("id, owner_type, owner_id, label, content, description, char_limit, read_only, metadata, "
           "version, created_at, updated_at")
SELECT = (f"SELECT {COLUMNS} FROM blocks WHERE owner_type = %s AND owner_id = %s AND label = %s "
          "AND deleted_at IS NULL ORDER BY label, id LIMIT 1")
INSERT = ("INSERT INTO pending_diffs (id, owner_type, owner_id, label, block_id, operation, arguments, "
          "proposed_content, preview, base_version, reasoning, agent_key_name, agent_id, status, "
          "conflict_reason, review_note, request_fingerprint, response_body, metadata, callback_url, "
          "created_at, updated_at) VALUES (%s, 'user', %s, %s, %s, 'append', %s, %s, '', %s, %s, 'bare', "
          "%s, 'pending', '', '', '', '{}', '{}', '', %s, %s)")
PAGE = 50
LIST = (f"SELECT {COLUMNS} FROM blocks WHERE owner_type = %s AND owner_id = %s "
        f"AND deleted_at IS NULL ORDER BY label, id LIMIT {PAGE}")
COUNT = "SELECT COUNT(*) FROM blocks WHERE owner_type = %s AND owner_id = %s AND deleted_at IS NULL"
VERSION = ("SELECT version FROM blocks WHERE owner_type = %s AND owner_id = %s AND label = %s "
           "AND deleted_at IS NULL")
NAMES = [c.strip() for c in COLUMNS.split(",")]
_local = threading.local()


def _connection():
    conn = getattr(_local, "conn", None)
    if conn is None:
        url = urlparse(os.environ["DATABASE_URL"])
        conn = MySQLdb.connect(host=url.hostname, port=url.port or 3306, user=url.username,
                               password=unquote(url.password or ""), database=url.path.lstrip("/"),
                               charset="utf8mb4")
        conn.autocommit(True)
        _local.conn = conn
    return conn


def _row(cursor, owner, label):
    cursor.execute(SELECT, ["user", owner, label])
    row = cursor.fetchone()
    if row is None:
        return None
    return _as_dict(row)


def _as_dict(row):
    return {n: (v.isoformat() if isinstance(v, datetime) else v) for n, v in zip(NAMES, row)}


def application(environ, start_response):
    parts = [unquote(p) for p in environ["PATH_INFO"].split("/") if p]
    status, payload = "404 Not Found", {"error": "not_found"}
    if parts == ["bare", "empty"]:
        status, payload = "200 OK", {"ok": True}
    elif len(parts) == 4 and parts[:2] == ["bare", "block"]:
        row = _row(_connection().cursor(), parts[2], parts[3])
        if row is not None:
            status, payload = "200 OK", row
    elif len(parts) == 3 and parts[:2] == ["bare", "list"]:
        cursor = _connection().cursor()
        cursor.execute(COUNT, ["user", parts[2]])
        count = cursor.fetchone()[0]
        cursor.execute(LIST, ["user", parts[2]])
        status, payload = "200 OK", {"count": count, "results": [_as_dict(r) for r in cursor.fetchall()]}
    elif len(parts) == 3 and parts[:2] == ["bare", "list-page"]:
        cursor = _connection().cursor()
        cursor.execute(LIST, ["user", parts[2]])
        results = [_as_dict(r) for r in cursor.fetchall()]
        count = len(results)
        if count == PAGE:
            cursor.execute(COUNT, ["user", parts[2]])
            count = cursor.fetchone()[0]
        status, payload = "200 OK", {"count": count, "results": results}
    elif len(parts) == 4 and parts[:2] == ["bare", "version"]:
        cursor = _connection().cursor()
        cursor.execute(VERSION, ["user", parts[2], parts[3]])
        row = cursor.fetchone()
        if row is not None:
            tag = f'"{row[0]}"'
            if environ.get("HTTP_IF_NONE_MATCH") == tag:
                start_response("304 Not Modified", [("ETag", tag)])
                return [b""]
            status, payload = "200 OK", {"version": row[0]}
    elif len(parts) == 4 and parts[:2] == ["bare", "diffs"]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(size))
        cursor = _connection().cursor()
        block = _row(cursor, parts[2], parts[3])
        if block is not None:
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            diff_id = uuid.uuid4().hex
            proposed = block["content"] + request["text"]
            cursor.execute(INSERT, [diff_id, parts[2], parts[3], block["id"],
                                    json.dumps({"text": request["text"]}), proposed,
                                    block["version"], request.get("reasoning", ""),
                                    request.get("agent_id", ""), now, now])
            status, payload = "201 Created", {"id": diff_id, "proposed_content": proposed}
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
