"""The MCP server under test: gunicorn (as `make serve` runs it) on the test database, and the
`mcp` SDK's own client talking Streamable HTTP to it."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.callbacks.conftest import database_url_of_tests
from tests.servers import AppServer, app_env


@pytest.fixture(scope="module")
def mcp_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = database_url_of_tests()
    # The key cache off: each test makes its keys anew after the previous test's flush.
    server = AppServer(app_env(DATABASE_URL=url, YOULAB_API_KEY_CACHE_SECONDS="0", YOULAB_CALLBACK_WORKER="0"),
                       threads=4)
    yield server
    server.stop()


def mcp_url(server, owner="maya") -> str:
    return f"http://127.0.0.1:{server.port}/mcp/users/{owner}/"


def with_client(url: str, key: str | None, body, **client_options):
    """Run `await body(client)` in one MCP session (the SDK's client, default `auto` mode)."""

    async def session():
        headers = {"Authorization": f"Api-Key {key}"} if key else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http), **client_options) as client:
                return await body(client)

    return anyio.run(session)
