"""The shared cache (CACHE_URL): Django's Redis backend, with a client kept per connection pool,
and the fixed-window counter the API's rate limit counts in (youlab.api.auth).

Every agent request reads the verified-key cache and counts one request in its key's window, so
each Redis round trip is on every request's path. Django's backend built a new `redis.Redis`
around its connection pool for every operation (~60 µs), and its `incr()` is two round trips
(EXISTS, then INCR); the window then needed a third `add` and a fourth `set` when it opened.
Here a client is made once per pool, and a window is opened and counted in one round trip.

A value stored with a check (`set_checked`: the verified-key cache, whose check is a digest of the
key) can be read and, when its check matches, a window counted in the same round trip
(`get_checked_and_count`): the API's two per-request trips to Redis become one, and only a caller
who presented the key itself is counted in its window.
"""

import hmac
import logging
import pickle

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import NoPermissionError, ResponseError

logger = logging.getLogger(__name__)
_SCRIPTS_REFUSED = object()  # in RedisCache._scripts: this client's server runs no scripts


def _refuses_scripts(exc: ResponseError) -> bool:
    # An ACL user without @scripting (NOPERM), or a server where EVAL/EVALSHA are renamed away.
    return isinstance(exc, NoPermissionError) or "unknown command" in str(exc).lower()


class _PooledClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        # redis.Redis holds no connection of its own (it takes one from the pool per command), so
        # one per pool serves every call. Django's caches are per thread, and so is this object.
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """settings.CACHES' backend with CACHE_URL: Django's RedisCache, a client per pool."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _PooledClientRedisCacheClient
        self._scripts = {}  # per client (this object is per thread, as Django's caches are)

    def count_in_window(self, key: str, seconds: int) -> int:
        """One more in the counter `key`, opening a window of `seconds` when none is open; the
        count including this one. One round trip: SET NX EX and INCR inside MULTI/EXEC, so the
        window cannot close between them (an INCR would then make a counter without expiry).
        A counter found without expiry (written by other code) gets one: else it would count
        forever and, past the limit, refuse its key for good."""
        redis_key = self.make_and_validate_key(key)
        client = self._cache.get_client(redis_key, write=True)
        pipeline = client.pipeline(transaction=True)
        pipeline.set(redis_key, 0, ex=seconds, nx=True)
        pipeline.incr(redis_key)
        pipeline.ttl(redis_key)
        _, count, ttl = pipeline.execute()
        if ttl == -1:  # no expiry
            client.expire(redis_key, seconds)
        return count

    # A checked value is stored as "<check>\n<the value pickled>". The script
    # compares the check in Redis; a plain comparison is enough there, since the checks are
    # digests (a caller learns nothing usable from how long a wrong digest matched).
    _GET_CHECKED_AND_COUNT = """
        local stored = redis.call('GET', KEYS[1])
        if not stored or string.sub(stored, 1, #ARGV[1]) ~= ARGV[1] then
            return {stored}
        end
        redis.call('SET', KEYS[2], 0, 'EX', ARGV[2], 'NX')
        local count = redis.call('INCR', KEYS[2])
        if redis.call('TTL', KEYS[2]) == -1 then
            redis.call('EXPIRE', KEYS[2], ARGV[2])
        end
        return {stored, count}
    """

    def set_checked(self, key: str, check: str, value, timeout: float) -> None:
        """Store `value` under `key` for `timeout` seconds, readable only with `check`."""
        redis_key = self.make_and_validate_key(key)
        client = self._cache.get_client(redis_key, write=True)
        client.set(redis_key, self._checked(check, value), px=max(int(timeout * 1000), 1))

    def replace_checked(self, key: str, check: str, value) -> bool:
        """`set_checked` only while `key` exists, keeping its expiry (SET XX KEEPTTL): a value
        deleted in the meantime (a revoked key's cache entry) is not brought back, nor one kept
        longer. True when it was set."""
        redis_key = self.make_and_validate_key(key)
        client = self._cache.get_client(redis_key, write=True)
        return bool(client.set(redis_key, self._checked(check, value), xx=True, keepttl=True))

    def get_checked(self, key: str, check: str):
        """The value `set_checked` stored under `key` with `check`; None if none or another check."""
        redis_key = self.make_and_validate_key(key)
        return self._unchecked(check, self._cache.get_client(redis_key).get(redis_key))

    def get_checked_and_count(self, key: str, check: str, window: str, seconds: int) -> tuple:
        """(`get_checked(key, check)`, `count_in_window(window, seconds)` when that value was
        found, else None), in one round trip (a script): a caller without the value's check
        is not counted."""
        redis_key, window_key = self.make_and_validate_key(key), self.make_and_validate_key(window)
        client = self._cache.get_client(redis_key, write=True)
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(self._GET_CHECKED_AND_COUNT)
        if script is not _SCRIPTS_REFUSED:
            try:
                found = script(keys=[redis_key, window_key], args=[self._check_prefix(check), seconds])
            except ResponseError as exc:
                if not _refuses_scripts(exc):
                    raise
                # A Redis (or an ACL user) without scripts: say so once, then two round trips.
                logger.warning("Redis refuses scripts (%s): the API's key cache and rate limit take two "
                               "round trips per request; allow EVALSHA (docs/deploy.md)", exc)
                self._scripts[id(client)] = _SCRIPTS_REFUSED
            else:
                value = self._unchecked(check, found[0])
                return value, (found[1] if value is not None and len(found) > 1 else None)
        value = self.get_checked(key, check)
        return value, (self.count_in_window(window, seconds) if value is not None else None)

    @staticmethod
    def _check_prefix(check: str) -> bytes:
        if "\n" in check:
            raise ValueError("a check is one line")
        return check.encode() + b"\n"

    def _checked(self, check: str, value) -> bytes:
        return self._check_prefix(check) + pickle.dumps(value, self._cache._serializer.protocol)

    def _unchecked(self, check: str, stored):
        prefix = self._check_prefix(check)
        if stored is None or not hmac.compare_digest(stored[:len(prefix)], prefix):
            return None
        # Only what this app wrote is read back: the value behind a matching check was pickled by
        # set_checked from a key verified in the database; no caller's input reaches these bytes.
        # Whoever can write to Redis itself could also feed Django's own cache and session reads
        # (pickled too): Redis is inside the trust boundary (docs/deploy.md).
        try:
            return pickle.loads(stored[len(prefix):])
        except Exception:  # noqa: BLE001 (written by another release, say): a miss, rewritten by its caller
            logger.warning("a cached value did not unpickle; treated as missing", exc_info=True)
            return None

    def window_seconds_left(self, key: str) -> float | None:
        """Seconds until the window `key` closes; None when no window is open."""
        redis_key = self.make_and_validate_key(key)
        left_ms = self._cache.get_client(redis_key).pttl(redis_key)
        return left_ms / 1000 if left_ms >= 0 else None


def count_in_window(cache, key: str, seconds: int, *, timer) -> int:
    """`cache.count_in_window` where the backend has it (Redis), else the same with the generic
    cache API: the counter's `add` opens the window and `:opened` remembers when."""
    if isinstance(cache, RedisCache):
        return cache.count_in_window(key, seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # no open window
        if cache.add(key, 1, seconds):
            cache.set(f"{key}:opened", timer(), seconds)
            return 1
        count = cache.incr(key)  # another request opened it just now
    if count == 1:
        # The window closed between the cache's existence check and its INCR, which then made
        # a counter without expiry: give it one.
        cache.touch(key, seconds)
    return count


def window_seconds_left(cache, key: str, seconds: int, *, timer) -> float | None:
    """Seconds until the window `key` (of `seconds`) closes; None when no window is open."""
    if isinstance(cache, RedisCache):
        return cache.window_seconds_left(key)
    opened = cache.get(f"{key}:opened")
    return None if opened is None else opened + seconds - timer()


def set_checked(cache, key: str, check: str, value, timeout: float) -> None:
    """`cache.set_checked` where the backend has it (Redis), else `(check, value)` as a value."""
    if isinstance(cache, RedisCache):
        cache.set_checked(key, check, value, timeout)
    else:
        cache.set(key, (check, value), timeout)


def get_checked_and_count(cache, key: str, check: str, window: str | None, seconds: int, *, timer) -> tuple:
    """`cache.get_checked_and_count` where the backend has it (Redis), else the same in two
    steps; with no `window`, only the value (and None)."""
    if isinstance(cache, RedisCache):
        if window is None:
            return cache.get_checked(key, check), None
        return cache.get_checked_and_count(key, check, window, seconds)
    stored = cache.get(key)
    if not (isinstance(stored, tuple) and len(stored) == 2 and hmac.compare_digest(stored[0], check)):
        return None, None
    return stored[1], (count_in_window(cache, window, seconds, timer=timer) if window is not None else None)
