"""A running Letta server's REST API (0.11 … 0.16), through a bounded, same-origin HTTP client.

The token goes to the server given only: a redirect to another scheme, host or port is refused
(urllib would copy the Authorization header there). Every response is capped at
``limits.max_response_bytes`` and its JSON at safety.MAX_JSON_DEPTH; a refused answer is a
skipped item of the report, a server's own error a note.

REST shows less than the database, and each blind spot is reported: hidden agents are missing
from the agent list (found, as far as possible, through the agents of the most shared blocks),
≥0.12 hides ``hidden`` blocks, no version shows ``is_deleted`` or block history, and 0.11.7
never shows ``template_name``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest

from ..safety import DEFAULT_LIMITS, Limits, SourceLimitExceeded, format_size, loads_json
from .rows import _RowError, agent_from_row, block_from_row, identity_from_row, row_key
from .snapshot import SOURCE_API, ImportSourceError, LettaSnapshot, redact_url

# --------------------------------------------------------------------------------------------
# The HTTP client: one server, bounded answers
# --------------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlparse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port


class _RedirectRefused(urlerror.URLError):
    def __init__(self, target: str, code: int):
        super().__init__("redirect refused")
        self.target = target
        self.code = code


class _SameOriginRedirects(urlrequest.HTTPRedirectHandler):
    """Follow a redirect only to the server the operator named (scheme, host and port).

    urllib copies every header, Authorization included, to wherever a redirect points: another
    host would get the token, and an internal address would be reached from this machine.
    """

    def __init__(self, origin: tuple[str, str, int | None]):
        self.origin = origin

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urlparse.urljoin(req.full_url, newurl)
        if _origin(target) != self.origin:
            raise _RedirectRefused(target, code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _LettaHttp:
    def __init__(self, base_url: str, token: str | None, timeout: float,
                 limits: Limits = DEFAULT_LIMITS):
        self.base = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "youlab-import"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.max_bytes = limits.max_response_bytes
        self.opener = urlrequest.build_opener(_SameOriginRedirects(_origin(self.base)))

    def get(self, path: str, params: Iterable[tuple[str, Any]] = ()) -> Any:
        """GET and decode JSON; raises _HttpError for a non-2xx answer, a broken body, a redirect
        to another host, a response over the size limit or JSON nested too deeply."""
        query = urlparse.urlencode(list(params))
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        req = urlrequest.Request(url, headers=self.headers)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                body = self._read(resp, url)
        except _RedirectRefused as exc:
            target = redact_url(exc.target)
            raise _HttpError(url, exc.code, f"redirect to another server ({target}) refused: "
                             "only the server given is contacted", refused=True) from None
        except urlerror.HTTPError as exc:
            raise _HttpError(url, exc.code, exc.read(300).decode("utf-8", "replace")) from exc
        except (urlerror.URLError, OSError) as exc:
            raise ImportSourceError(f"cannot reach the Letta server at {self.base}: {exc}") from exc
        try:
            return loads_json(body, what="response")
        except SourceLimitExceeded as exc:
            raise _HttpError(url, 200, str(exc), refused=True) from None
        except ValueError as exc:
            raise _HttpError(url, 200, f"response is not JSON ({exc})") from exc

    def _read(self, resp: Any, url: str) -> bytes:
        declared = resp.headers.get("Content-Length")
        too_big = (f"response over the limit of {format_size(self.max_bytes)} "
                   "(--max-response-size); not read")
        if declared and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise _HttpError(url, resp.status, too_big, refused=True)
        body = resp.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            raise _HttpError(url, resp.status, too_big, refused=True)
        return body


class _HttpError(Exception):
    def __init__(self, url: str, status: int, detail: str, *, refused: bool = False):
        super().__init__(f"GET {url} → {status}: {detail}")
        self.status = status
        # Refused by us (redirect elsewhere, too big, too deep): a skipped item in the summary,
        # where a server's own error is a note.
        self.report_kind = "request" if refused else "note"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------


def load_api(base_url: str, token: str | None = None, *, timeout: float = 30.0,
             page_size: int = 50, limits: Limits = DEFAULT_LIMITS) -> LettaSnapshot:
    """Read agents, blocks and identities from a running Letta server (0.11 … 0.16 REST).

    REST blind spots, each reported: hidden agents are missing from ``GET /v1/agents/`` (they are
    looked up through the agents of the most shared block), ≥0.12 hides ``hidden`` blocks, no
    version shows ``is_deleted`` (soft-deleted blocks come back as live) or block history, and
    0.11.7 never shows ``template_name``.
    """
    http = _LettaHttp(base_url, token, timeout, limits)
    snap = LettaSnapshot(SOURCE_API, http.base)
    version = _server_version(http)
    snap.info["letta_version"] = version or None
    legacy = bool(version) and _version_tuple(version) < (0, 12)
    # How to ask for the relations we need: 0.11 `include_relationships`, 0.12+ `include`.
    # 0.11 loads everything (tags too) when no relationship is named, so list agents bare there.
    agent_params = [] if legacy else [("include", "agent.blocks"), ("include", "agent.tags"),
                                      ("include", "agent.identities")]
    probe_params = ([("include_relationships", "memory")] if legacy else agent_params)

    agents_count = _count(http, snap, "/v1/agents/count")
    _list_agents(http, snap, agent_params, page_size)
    listed_agents = len(snap.agents)
    blocks_count = _count(http, snap, "/v1/blocks/count")
    _list_blocks(http, snap, blocks_count)
    # Before 0.12, /count includes hidden agents, so we know when to stop; from 0.12 on it does
    # not, so one probe (of the most shared block) is all we can justify.
    if legacy and agents_count is not None:
        _find_hidden_agents(http, snap, probe_params, max_probes=20, agents_count=agents_count)
    else:
        _find_hidden_agents(http, snap, probe_params, max_probes=1, agents_count=None)
    _report_blind_spots(snap, version=version, legacy=legacy, agents_count=agents_count,
                        hidden_found=len(snap.agents) - listed_agents, blocks_count=blocks_count)
    _load_api_identities(http, snap, page_size)
    return snap


def _server_version(http: _LettaHttp) -> str:
    """The server's Letta version ("" when it does not say); not a Letta server: raises."""
    try:
        health = http.get("/v1/health/")
    except _HttpError as exc:
        raise ImportSourceError(f"{http.base} does not look like a Letta server ({exc})") from exc
    return str(health.get("version") or "") if isinstance(health, dict) else ""


def _count(http: _LettaHttp, snap: LettaSnapshot, path: str) -> int | None:
    """A /count answer, or None (reported) when the server gives none."""
    try:
        value = http.get(path)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    except _HttpError as exc:
        snap.report(exc.report_kind, path, f"count not available ({exc}); completeness not checked")
        return None


def _get_list(http: _LettaHttp, path: str, params: list[tuple[str, Any]]) -> list[Any]:
    """A listing the import cannot do without: no list is an ImportSourceError."""
    try:
        items = http.get(path, params)
    except _HttpError as exc:
        raise ImportSourceError(f"cannot list Letta data: {exc}") from exc
    if not isinstance(items, list):
        raise ImportSourceError(f"GET {path} did not return a list: {str(items)[:200]}")
    return items


def _list_agents(http: _LettaHttp, snap: LettaSnapshot, agent_params: list[tuple[str, Any]],
                 page_size: int) -> None:
    """Agents, page by page (cursor = last id; agent pagination is consistent in both versions)."""
    after = None
    seen_ids: set[str] = set()
    while True:
        params = [("limit", page_size), *agent_params] + ([("after", after)] if after else [])
        page = _get_list(http, "/v1/agents/", params)
        for item in page:
            _add_api_agent(snap, item)
        new = [a["id"] for a in page if isinstance(a, dict) and a.get("id") not in seen_ids]
        seen_ids.update(new)
        if len(page) < page_size or not new:  # last page, or a server repeating itself
            return
        after = new[-1]


def _list_blocks(http: _LettaHttp, snap: LettaSnapshot, blocks_count: int | None) -> None:
    """Every visible block in one page.

    0.11.7's `after=` paging on SQLite is broken (all blocks share a created_at second), so ask
    for everything in one page and check the total against /count.
    """
    limit = max(100, 2 * (blocks_count or 0))
    blocks = _get_list(http, "/v1/blocks/", [("limit", limit)])
    for item in blocks:
        _add_api_block(snap, item)
    if blocks_count is None and len(blocks) >= limit:
        snap.report("block", "?", f"GET /v1/blocks/ returned a full page of {limit} and no count "
                    "is available: blocks beyond it may be missing")


def _find_hidden_agents(http: _LettaHttp, snap: LettaSnapshot, probe_params: list[tuple[str, Any]],
                        *, max_probes: int, agents_count: int | None) -> None:
    """Hidden agents, found through the agents attached to the most shared blocks.

    Stops after ``max_probes`` blocks, or once ``agents_count`` agents are known.
    """
    linked: dict[str, int] = defaultdict(int)
    for _, block_id in snap.links:
        linked[block_id] += 1
    candidates = sorted(linked, key=lambda b: (-linked[b], b))
    for block_id in candidates[:max_probes]:
        if agents_count is not None and len(snap.agents) >= agents_count:
            return
        try:
            attached = http.get(f"/v1/blocks/{urlparse.quote(block_id)}/agents", probe_params)
        except _HttpError as exc:  # the route itself is unusable: do not try every block
            snap.report(exc.report_kind, f"block {block_id}", f"cannot list its agents ({exc})")
            return
        for item in attached if isinstance(attached, list) else []:
            _add_api_agent(snap, item)


def _report_blind_spots(snap: LettaSnapshot, *, version: str, legacy: bool,
                        agents_count: int | None, hidden_found: int,
                        blocks_count: int | None) -> None:
    """What REST did not show: agents and blocks under their counts, hidden agents, soft deletes."""
    if agents_count is not None and len(snap.agents) < agents_count:
        snap.report("agent", "?", (
            f"GET /v1/agents/count says {agents_count} but only {len(snap.agents)} agents could be "
            "read: Letta's REST API omits hidden agents; blocks attached only to them are missing "
            "or unowned. Import from the database to get them."))
    elif not legacy:
        snap.report("note", "agents", (
            f"Letta {version or '≥0.12'} omits hidden agents from GET /v1/agents/ and from its "
            f"count; hidden agents found through the most shared block's agents: {hidden_found}. "
            "Others may be missing: import from the database to be sure."))
    if blocks_count is not None and len(snap.blocks) < blocks_count:
        snap.report("block", "?", (
            f"GET /v1/blocks/count says {blocks_count} but only {len(snap.blocks)} blocks are "
            "visible over REST (0.12+ hides blocks with hidden=true; template blocks are not "
            "listed). Import from the database to get them."))
    snap.report("note", "is_deleted", (
        "Letta's REST API does not show soft deletes: blocks deleted in Letta (is_deleted) are "
        "imported as live, and block history is not available. Import from the database for both."))


def _add_api_agent(snap: LettaSnapshot, item: Any) -> None:
    if not isinstance(item, dict):
        snap.report("row", "agents", f"agent is a {type(item).__name__}, not an object")
        return
    try:
        agent, problems = agent_from_row(item)
    except _RowError as exc:
        snap.report("row", row_key(item, "agents"), str(exc))
        return
    known = snap.agents.get(agent.id)
    if known is None:
        snap.add_agent(agent)
        for problem in problems:
            snap.report("note", f"agent {agent.ref}", problem)
    elif not known.tags:
        snap.add_agent_tags(agent.id, agent.tags)  # a probe (0.11: memory only) may have come first
    # 0.12+ returns `blocks`; both return `memory.blocks`.
    memory = item.get("memory") if isinstance(item.get("memory"), dict) else {}
    blocks = item.get("blocks") or memory.get("blocks") or []
    for block in blocks if isinstance(blocks, list) else []:
        added = _add_api_block(snap, block)
        if added is not None:
            snap.links.add((agent.id, added))


def _add_api_block(snap: LettaSnapshot, item: Any) -> str | None:
    if not isinstance(item, dict):
        snap.report("row", "blocks", f"block is a {type(item).__name__}, not an object")
        return None
    try:
        block = block_from_row(item)
    except _RowError as exc:
        snap.report("row", row_key(item, "block"), str(exc))
        return None
    if block.id not in snap.blocks:
        snap.add_block(block)
    return block.id


def _load_api_identities(http: _LettaHttp, snap: LettaSnapshot, page_size: int) -> None:
    after = None
    while True:
        params = [("limit", page_size)] + ([("after", after)] if after else [])
        try:
            page = http.get("/v1/identities/", params)
        except _HttpError as exc:
            snap.report(exc.report_kind, "identities", f"identities not read ({exc})")
            return
        if not isinstance(page, list):
            return
        for item in page:
            try:
                if not isinstance(item, dict):
                    raise _RowError(f"identity is a {type(item).__name__}, not an object")
                snap.identities.append(identity_from_row(item))
            except _RowError as exc:
                snap.report("row", "identities", f"identity not read: {exc}")
        if len(page) < page_size or not page or not isinstance(page[-1], dict):
            return
        after = page[-1].get("id")
