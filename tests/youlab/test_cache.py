"""The shared cache's backend (youlab.cache) on a real Redis: the rate limit's window counter and
what the API does with it."""

import threading
import time

import pytest
from django.core.cache import caches

from tests.support import api, assert_error
from youlab.cache import RedisCache, count_in_window, window_seconds_left
from youlab.keys import revoke_agent_keys


def test_the_deployment_cache_is_ours(redis_cache):
    assert isinstance(caches["default"], RedisCache)


def test_a_window_counts_from_one_and_closes_after_its_period(redis_cache):
    backend = caches["default"]
    assert window_seconds_left(backend, "w", 1, timer=time.time) is None
    assert [count_in_window(backend, "w", 1, timer=time.time) for _ in range(3)] == [1, 2, 3]
    assert 0 < window_seconds_left(backend, "w", 1, timer=time.time) <= 1
    assert redis_cache.get("w") == 3  # the counter is an ordinary cache value
    time.sleep(1.1)
    assert window_seconds_left(backend, "w", 1, timer=time.time) is None
    assert count_in_window(backend, "w", 1, timer=time.time) == 1


def test_concurrent_counts_are_neither_lost_nor_left_without_expiry(redis_cache):
    def count(n):
        backend = caches["default"]  # each thread has its own backend and connection pool
        for _ in range(n):
            count_in_window(backend, "busy", 60, timer=time.time)

    threads = [threading.Thread(target=count, args=(50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_cache.get("busy") == 400
    assert 0 < window_seconds_left(caches["default"], "busy", 60, timer=time.time) <= 60


def test_a_window_the_generic_backend_opened_is_counted_on(redis_cache):
    """A counter set through the cache API (as Django's own incr would find it) keeps counting."""
    redis_cache.set("old", 5, 60)
    assert count_in_window(caches["default"], "old", 60, timer=time.time) == 6


def test_one_redis_client_serves_every_operation(redis_cache):
    client = caches["default"]._cache
    assert client.get_client("a", write=True) is client.get_client("b", write=True)
    assert client.get_client("a") is client.get_client("a", write=True)  # one server: one pool


@pytest.mark.django_db
def test_keys_are_throttled_per_key_in_redis(agent, other_agent, redis_cache, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "3/minute"}}
    for _ in range(3):
        assert agent.get(api("tools")).status_code == 200
    response = agent.get(api("tools"))
    error = assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60 and 0 < error["details"]["retry_after_seconds"] <= 60
    assert other_agent.get(api("tools")).status_code == 200  # its own window


@pytest.mark.django_db
def test_the_rate_limit_window_reopens_in_redis(agent, redis_cache, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "2/second"}}
    assert [agent.get(api("tools")).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.1)
    assert agent.get(api("tools")).status_code == 200


@pytest.mark.django_db
def test_a_revoked_key_is_refused_at_once_with_the_key_cache_in_redis(agent, agent_key, redis_cache):
    assert agent.get(api("tools")).status_code == 200  # verified and cached
    assert revoke_agent_keys(name="tutor") == 1
    assert agent.get(api("tools")).status_code == 401


@pytest.mark.django_db
def test_the_cached_key_carries_the_last_use_its_request_wrote(agent, agent_key, redis_cache):
    """Otherwise every request would ask the cache whether this minute's write was done, until
    the cached copy expired (one more round trip per request)."""
    from youlab.api.auth import _cache_entry
    from youlab.models import AgentKey

    assert agent.get(api("tools")).status_code == 200
    written = AgentKey.objects.get(pk=agent_key[0].pk).last_used_at
    assert written is not None
    assert caches["default"].get_checked(*_cache_entry(agent_key[1])).last_used_at == written
    client = caches["default"]._cache.get_client(write=True)
    client.delete(caches["default"].make_and_validate_key(f"agentkey:used:{agent_key[0].prefix}"))
    assert agent.get(api("tools")).status_code == 200  # within the minute: no second write
    assert AgentKey.objects.get(pk=agent_key[0].pk).last_used_at == written


def test_replace_checked_sets_only_over_an_entry_still_there_and_keeps_its_expiry(redis_cache):
    backend = caches["default"]
    assert backend.replace_checked("gone", "d1", "new") is False
    assert backend.get_checked("gone", "d1") is None  # a deleted entry (a revoked key's) is not brought back
    backend.set_checked("there", "d1", "old", 30)
    assert backend.replace_checked("there", "d1", [1, 2]) is True
    assert backend.get_checked("there", "d1") == [1, 2]
    client = backend._cache.get_client(write=True)
    assert 0 < client.ttl(backend.make_and_validate_key("there")) <= 30


def test_a_checked_value_is_read_and_its_window_counted_only_with_its_check(redis_cache):
    backend = caches["default"]
    backend.set_checked("entry", "a" * 64, {"key": 1}, 30)
    assert backend.get_checked("entry", "b" * 64) is None
    assert backend.get_checked_and_count("entry", "b" * 64, "win", 60) == (None, None)
    assert backend.get_checked_and_count("entry", "a" * 63, "win", 60) == (None, None)  # the whole check
    assert backend.get_checked_and_count("missing", "a" * 64, "win", 60) == (None, None)
    assert redis_cache.get("win") is None  # none of those was counted
    assert [backend.get_checked_and_count("entry", "a" * 64, "win", 60) for _ in range(2)] == [
        ({"key": 1}, 1), ({"key": 1}, 2)]
    assert 0 < window_seconds_left(backend, "win", 60, timer=time.time) <= 60
    assert count_in_window(backend, "win", 60, timer=time.time) == 3  # the same counter
    redis_cache.set("stuck", 5, None)  # a counter without expiry gets one here too
    assert backend.get_checked_and_count("entry", "a" * 64, "stuck", 1) == ({"key": 1}, 6)
    assert 0 < window_seconds_left(backend, "stuck", 1, timer=time.time) <= 1
    with pytest.raises(ValueError):
        backend.set_checked("entry", "two\nlines", "x", 30)


def test_the_generic_backend_keeps_checked_values_too(settings):
    from django.core.cache.backends.locmem import LocMemCache

    from youlab.cache import get_checked_and_count, set_checked

    local = LocMemCache("checked-test", {})
    set_checked(local, "entry", "a" * 64, "value", 30)
    assert get_checked_and_count(local, "entry", "b" * 64, "win", 60, timer=time.time) == (None, None)
    assert local.get("win") is None
    assert get_checked_and_count(local, "entry", "a" * 64, "win", 60, timer=time.time) == ("value", 1)
    assert get_checked_and_count(local, "entry", "a" * 64, None, 60, timer=time.time) == ("value", None)


class _SentCommands:
    """Counts the commands this process sends to Redis (a wrapper around redis-py's real send)."""

    def __init__(self, monkeypatch):
        from redis.connection import AbstractConnection

        self.count = 0
        send = AbstractConnection.send_packed_command

        def counting(connection, command, check_health=True):
            self.count += 1
            return send(connection, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)


@pytest.mark.django_db
def test_an_agent_request_with_its_key_cached_makes_one_round_trip_to_redis(agent, redis_cache, monkeypatch,
                                                                             settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "3/minute"}}
    assert agent.get(api("tools")).status_code == 200  # verified in the database, then cached
    sent = _SentCommands(monkeypatch)
    assert agent.get(api("tools")).status_code == 200
    assert sent.count == 1  # the key's entry read and the request counted in its window together
    assert agent.get(api("tools")).status_code == 200
    assert agent.get(api("tools")).status_code == 429  # each request counted once
    assert sent.count == 2 + 2  # the 429's Retry-After reads the window's expiry


@pytest.mark.django_db
def test_a_wrong_secret_under_a_keys_prefix_does_not_spend_its_rate(agent, agent_key, redis_cache, settings):
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "3/minute"}}
    assert agent.get(api("tools")).status_code == 200  # the key's entry is cached
    prefix, _, secret = agent_key[1].partition(".")
    forger = APIClient()
    forger.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.{'x' * len(secret)}")
    assert [forger.get(api("tools")).status_code for _ in range(5)] == [401] * 5
    assert [agent.get(api("tools")).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db
def test_a_key_revoked_while_its_last_use_is_written_is_not_cached_again(agent, agent_key, redis_cache):
    """The revocation deletes the cache entry; the request that wrote last_used_at just before
    must not put the unrevoked copy back (SET XX)."""
    from youlab.api import auth
    from youlab.models import AgentKey

    entry = auth._cache_key(agent_key[0].prefix)
    api_key = AgentKey.objects.get(pk=agent_key[0].pk)
    redis_cache.delete(entry)  # what the revocation's post_save did meanwhile
    auth._refresh_verified_key(agent_key[1], api_key)
    assert redis_cache.get(entry) is None


def test_a_counter_found_without_expiry_gets_one(redis_cache):
    """Left by other code (an older worker's EXISTS + INCR that raced a window's end): without
    an expiry it would count forever and, past the limit, refuse its key for good."""
    backend = caches["default"]
    redis_cache.set("stuck", 5, None)
    assert count_in_window(backend, "stuck", 1, timer=time.time) == 6
    assert 0 < window_seconds_left(backend, "stuck", 1, timer=time.time) <= 1
    time.sleep(1.1)
    assert count_in_window(backend, "stuck", 1, timer=time.time) == 1


@pytest.fixture
def redis_without_scripts(settings):
    """Django's default cache on the test Redis as an ACL user that may not run scripts."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import redis

    from tests.servers import redis_url

    url = redis_url()
    admin = redis.Redis.from_url(url)
    user, password = f"test-noscript-{secrets.token_hex(4)}", secrets.token_hex(16)
    admin.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
                      commands=["+@all", "-@scripting"])
    parts = urlsplit(url)
    prefix = f"test-{secrets.token_hex(6)}"
    settings.CACHES = {"default": {
        "BACKEND": "youlab.cache.RedisCache",
        "LOCATION": urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}")),
        "KEY_PREFIX": prefix, "OPTIONS": {"socket_timeout": 2},
    }}
    yield caches["default"]
    admin.acl_deluser(user)
    for key in admin.scan_iter(match=f"{prefix}:*"):
        admin.delete(key)


def test_a_redis_that_refuses_scripts_still_counts_in_two_round_trips(redis_without_scripts, caplog):
    backend = redis_without_scripts
    backend.set_checked("entry", "a" * 64, "value", 30)
    with caplog.at_level("WARNING", logger="youlab.cache"):
        results = [backend.get_checked_and_count("entry", "a" * 64, "win", 60) for _ in range(3)]
        assert backend.get_checked_and_count("entry", "b" * 64, "win", 60) == (None, None)
    assert results == [("value", 1), ("value", 2), ("value", 3)]
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1  # said once
    assert "refuses scripts" in caplog.records[0].getMessage()


@pytest.mark.django_db
def test_the_api_keeps_its_key_cache_and_rate_limit_on_a_redis_without_scripts(agent, agent_key,
                                                                               redis_without_scripts, settings):
    from youlab.api.auth import _cache_entry

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "3/minute"}}
    assert [agent.get(api("tools")).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert redis_without_scripts.get_checked(*_cache_entry(agent_key[1])) is not None  # the key is cached


@pytest.mark.django_db
def test_a_key_entry_that_does_not_unpickle_is_a_miss_and_is_rewritten(agent, agent_key, redis_cache):
    """A matching digest over a value this release cannot read (another release's class, a torn
    write): the key is checked in the database and cached again, not refused or failed."""
    from django.utils import timezone

    from youlab.api.auth import _cache_entry
    from youlab.models import AgentKey

    AgentKey.objects.filter(pk=agent_key[0].pk).update(last_used_at=timezone.now())  # no refresh on use
    entry, digest = _cache_entry(agent_key[1])
    backend = caches["default"]
    client = backend._cache.get_client(write=True)
    client.set(backend.make_and_validate_key(entry), digest.encode() + b"\n" + b"\x80\x05not a pickle", ex=30)
    assert agent.get(api("tools")).status_code == 200
    assert backend.get_checked(entry, digest).pk == agent_key[0].pk  # rewritten
