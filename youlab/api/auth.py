"""Who is calling the API: an agent (API key) or a staff member (session)."""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework import authentication, exceptions, throttling
from rest_framework_api_key.permissions import KeyParser

from youlab.actors import Actor
from youlab.cache import RedisCache, count_in_window, get_checked_and_count, set_checked, window_seconds_left
from youlab.keys import note_key_use
from youlab.models import AgentKey

# Verified keys are remembered in the cache for a few seconds (YOULAB_API_KEY_CACHE_SECONDS, at
# most 60): the key lookup was a quarter of an API read's time (bench/api_reads.py). The cache is
# Django's default cache: with CACHE_URL one Redis shared by every worker and app server, else
# this process's memory. An entry is stored under the key's public prefix and holds a SHA-256 of
# the whole key (never the key itself), so only the exact key hits it, and a key saved or deleted
# (revocation, expiry change: the command, the admin, any worker) is dropped from the cache at
# once, which with Redis means on every worker. Only successful checks are cached; a cache that
# does not answer falls back to the database.
logger = logging.getLogger(__name__)
_CACHE_PREFIX = "apikey:v1:"


def _key_cache_ttl() -> float:
    return min(float(getattr(settings, "YOULAB_API_KEY_CACHE_SECONDS", 0)), 60.0)


def _cache_key(prefix: str) -> str:
    return _CACHE_PREFIX + hashlib.sha256(prefix.encode("utf-8", "surrogatepass")).hexdigest()


def _cache_entry(key: str) -> tuple[str, str]:
    """Where `key`'s verified copy is cached (under its prefix), and the digest that must match."""
    return _cache_key(key.partition(".")[0]), hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def verified_api_key(key: str, *, window: tuple[str, int] | None = None) -> tuple[AgentKey, int | None]:
    """The usable (not revoked) AgentKey for `key`, or AgentKey.DoesNotExist; and, with a rate
    `window` (its cache key, its seconds), this request's number in it (None if the cache did not
    answer). A key found in the cache is counted in the same round trip as it is read."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    ttl = _key_cache_ttl()
    if ttl <= 0:
        return AgentKey.objects.get_from_key(key), _count_in(backend, window)
    cache_key, digest = _cache_entry(key)
    window_key, seconds = window or (None, 0)
    try:
        hit, counted = get_checked_and_count(backend, cache_key, digest, window_key, seconds, timer=time.time)
    except Exception:
        logger.warning("key cache unavailable; checking the key in the database", exc_info=True)
        return AgentKey.objects.get_from_key(key), None
    if hit is not None:
        return hit, counted
    api_key = AgentKey.objects.get_from_key(key)
    try:
        set_checked(backend, cache_key, digest, api_key, ttl)
    except Exception:
        logger.warning("key cache unavailable; not caching the key", exc_info=True)
    return api_key, _count_in(backend, window)


def _count_in(backend, window: tuple[str, int] | None) -> int | None:
    if window is None:
        return None
    try:
        return count_in_window(backend, window[0], window[1], timer=time.time)
    except Exception:  # the rate limit says so, and serves the request (AgentKeyRateThrottle)
        return None


def _refresh_verified_key(key: str, api_key: AgentKey) -> None:
    """Put a key whose last_used_at this request wrote back in the shared cache: with the old copy
    every request asked Redis whether the minute's write was done, until the entry expired. Only
    over an entry still there, with its expiry (SET XX KEEPTTL): one a revocation deleted
    meanwhile stays deleted. (The per-process cache answers that question without a round trip;
    it is left alone.)"""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if _key_cache_ttl() <= 0 or not isinstance(backend, RedisCache):
        return
    cache_key, digest = _cache_entry(key)
    try:
        backend.replace_checked(cache_key, digest, api_key)
    except Exception:
        logger.warning("key cache unavailable; not refreshing the key", exc_info=True)


@receiver(post_save, sender=AgentKey)
@receiver(post_delete, sender=AgentKey)
def _forget_verified_keys(instance, **kwargs):
    cache_key = _cache_key(instance.prefix)

    def forget():
        try:
            cache.delete(cache_key)
        except Exception:
            logger.error("could not clear a changed API key from the cache", exc_info=True)

    forget()
    # And once more after the transaction commits: a worker that read the old row in between
    # could have cached it again.
    transaction.on_commit(forget)


class Agent:
    """The principal behind an agent API key (request.user for agent requests)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: AgentKey, *, counted: tuple[str, int] | None = None):
        self.api_key = api_key
        self.name = api_key.name
        # (window, this request's number in it) as authentication counted it (with Redis in the
        # same round trip as the key's cache read); the rate limit compares, not counting again.
        self.counted = counted

    def has_scope(self, scope: str) -> bool:
        return self.api_key.has_scope(scope)

    @property
    def actor(self) -> Actor:
        return Actor.agent(self.name)

    def __str__(self):
        return str(self.actor)


# Keys are "<prefix>.<secret>" (8 + 1 + 32 characters). Anything far longer, or not ASCII, is
# refused before it reaches the database: a 100 KB header used to become a 100 KB `prefix = %s`
# parameter, which Dolt rejects with an error (a 500).
MAX_KEY_LENGTH = 128
_PREFIX_LENGTH = AgentKey._meta.get_field("prefix").max_length


def _plausible_key(key: str) -> bool:
    prefix, dot, _ = key.partition(".")
    return bool(dot) and len(key) <= MAX_KEY_LENGTH and key.isascii() and 0 < len(prefix) <= _PREFIX_LENGTH


class AgentKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`; keys are stored hashed by djangorestframework-api-key."""

    keyword = KeyParser.keyword

    def authenticate(self, request):
        key = KeyParser().get(request._request)
        if key is None:
            return None
        if not _plausible_key(key):
            raise exceptions.AuthenticationFailed("invalid, revoked or expired API key")
        window = AgentKeyRateThrottle.window_for(request, key.partition(".")[0])
        try:
            api_key, number = verified_api_key(key, window=window)
        except AgentKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("invalid, revoked or expired API key")
        # get_from_key has checked the hash and `revoked`; expiry is only checked by the
        # manager's is_valid(), not the model's.
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("invalid, revoked or expired API key")
        if note_key_use(api_key):
            _refresh_verified_key(key, api_key)
        return Agent(api_key, counted=(window[0], number) if number is not None else None), api_key

    def authenticate_header(self, request):
        return self.keyword


def is_agent(request) -> bool:
    return isinstance(getattr(request, "user", None), Agent)


def request_actor(request) -> Actor:
    """Who is making an API request: the agent key, or the member of staff signed in."""
    if is_agent(request):
        return request.user.actor
    return Actor.staff(request.user)


class AgentKeyRateThrottle(throttling.SimpleRateThrottle):
    """Per-key request rate (REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['agent']), in fixed windows.

    A key's first request opens a window of the rate's period; each request adds one to the
    window's counter in the shared cache (with Redis one round trip: youlab.cache); past the limit
    the key gets 429 until the window closes (Retry-After: the rest of the window). DRF's sliding
    log kept every request's time in one list that was read, unpickled, pickled and written back
    on every request, growing with the rate (bench/api_reads.py). A fixed window may let up to
    twice the rate through around the moment one window closes and the next opens; that is the
    bound this limit keeps. Authentication counts the request once the key is verified (a key
    found in the verified-key cache in the same round trip as that read:
    youlab.cache.get_checked_and_count), so a request then refused for its scopes (403) counts
    too; here the count is only compared with the rate (or taken, if the cache did not answer then).
    """

    scope = "agent"

    @property
    def cache(self):
        # The backend itself, not DRF's proxy of it: youlab.cache picks Redis's one-trip path by
        # the backend's class.
        return caches[DEFAULT_CACHE_ALIAS]

    @classmethod
    def window_for(cls, request, prefix: str) -> tuple[str, int] | None:
        """(cache key, seconds) of the window the key with `prefix` is counted in, for
        authentication to count the request in the same round trip as it reads the key: the
        view's first throttle of this class or a subclass that has a rate; None when none does."""
        view = (getattr(request, "parser_context", None) or {}).get("view")
        for throttle_class in getattr(view, "throttle_classes", ()):
            # The view's own class: a subclass with a scope (or rate) of its own counts there.
            if issubclass(throttle_class, cls):
                throttle = throttle_class()
                if throttle.rate is not None:
                    return throttle.window_key(prefix), throttle.duration
        return None

    def window_key(self, prefix: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": prefix}

    def get_cache_key(self, request, view):
        if not is_agent(request):
            return None  # staff sessions are not throttled here
        return self.window_key(request.user.api_key.prefix)

    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        counted = request.user.counted
        if counted is not None and counted[0] == self.key:
            return counted[1] <= self.num_requests
        # The limit lives in the shared cache (CACHE_URL). If that does not answer, serve the
        # request rather than fail it: an outage of the cache must not become one of the API.
        try:
            return self._count() <= self.num_requests
        except Exception:
            logger.warning("rate-limit cache unavailable; request not counted", exc_info=True)
            return True

    def _count(self) -> int:
        """This request's number in the key's current window (opening one if none is open)."""
        return count_in_window(self.cache, self.key, self.duration, timer=self.timer)

    def wait(self):
        try:
            left = window_seconds_left(self.cache, self.key, self.duration, timer=self.timer)
        except Exception:
            left = None
        if left is None:
            return self.duration
        return max(left, 1)
