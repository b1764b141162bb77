"""The shared cache (CACHE_URL): Django's Redis backend, with a client kept per connection pool,
and the fixed-window counter the API's rate limit counts in (youlab.api.auth).

Every agent request reads the verified-key cache and counts one request in its key's window, so
each Redis round trip is on every request's path. Django's backend built a new `redis.Redis`
around its connection pool for every operation (~60 µs), and its `incr()` is two round trips
(EXISTS, then INCR); the window then needed a third `add` and a fourth `set` when it opened.
Here a client is made once per pool, and a window is opened and counted in one round trip.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


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

    def replace(self, key: str, value) -> bool:
        """Set `key` only while it exists, keeping its expiry (SET XX KEEPTTL): a value deleted in
        the meantime (a revoked key's cache entry) is not brought back, nor one kept longer.
        True when it was set."""
        redis_key = self.make_and_validate_key(key)
        client = self._cache.get_client(redis_key, write=True)
        return bool(client.set(redis_key, self._cache._serializer.dumps(value), xx=True, keepttl=True))

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
