"""Who is calling the API: an agent (API key) or a staff member (session)."""

import hashlib
import threading
import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

# Verified keys are remembered in-process for a few seconds (YOULAB_API_KEY_CACHE_SECONDS): the
# key lookup was a quarter of an API read's time (bench/api_reads.py). Only successful checks
# are cached, by a hash of the whole key (never the key itself); a key saved or deleted in this
# process (revocation, expiry change) is forgotten at once, one changed elsewhere (another
# worker, `create_agent_key --revoke`) within the TTL. 0 turns the cache off.
_verified: dict[bytes, tuple[float, APIKey]] = {}
_verified_lock = threading.Lock()
_VERIFIED_MAX = 10_000


def _key_cache_ttl() -> float:
    return float(getattr(settings, "YOULAB_API_KEY_CACHE_SECONDS", 0))


def verified_api_key(key: str) -> APIKey:
    """The usable (not revoked) APIKey for `key`, or APIKey.DoesNotExist."""
    ttl = _key_cache_ttl()
    if ttl <= 0:
        return APIKey.objects.get_from_key(key)
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    now = time.monotonic()
    hit = _verified.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    api_key = APIKey.objects.get_from_key(key)
    with _verified_lock:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[digest] = (now + ttl, api_key)
    return api_key


@receiver(post_save, sender=APIKey)
@receiver(post_delete, sender=APIKey)
def _forget_verified_keys(**kwargs):
    with _verified_lock:
        _verified.clear()


class Agent:
    """The principal behind an agent API key (request.user for agent requests)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: APIKey):
        self.api_key = api_key
        self.name = api_key.name

    @property
    def actor(self) -> str:
        return f"agent:{self.name}"

    def __str__(self):
        return self.actor


# Keys are "<prefix>.<secret>" (8 + 1 + 32 characters). Anything far longer, or not ASCII, is
# refused before it reaches the database: a 100 KB header used to become a 100 KB `prefix = %s`
# parameter, which Dolt rejects with an error (a 500).
MAX_KEY_LENGTH = 128
_PREFIX_LENGTH = APIKey._meta.get_field("prefix").max_length


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
        try:
            api_key = verified_api_key(key)
        except APIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("invalid, revoked or expired API key")
        # get_from_key has checked the hash and `revoked`; expiry is only checked by the
        # manager's is_valid(), not the model's.
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("invalid, revoked or expired API key")
        return Agent(api_key), api_key

    def authenticate_header(self, request):
        return self.keyword


def is_agent(request) -> bool:
    return isinstance(getattr(request, "user", None), Agent)


class IsAgentOrStaff(permissions.BasePermission):
    message = "an agent API key or a staff login is required"

    def has_permission(self, request, view):
        user = request.user
        return is_agent(request) or bool(user and user.is_authenticated and user.is_staff)


class IsAgent(permissions.BasePermission):
    message = "this route is for agent API keys"

    def has_permission(self, request, view):
        return is_agent(request)


class IsStaff(permissions.BasePermission):
    """Staff-only routes (approve, reject, revert): agent keys are refused."""

    message = "staff only: agent API keys may not do this"

    def has_permission(self, request, view):
        user = request.user
        return not is_agent(request) and bool(user and user.is_authenticated and user.is_staff)


def actor_for(request) -> str:
    """The block_history actor for a request."""
    from blocks.services import staff_actor

    if is_agent(request):
        return request.user.actor
    return staff_actor(request.user)


class AgentKeyRateThrottle(throttling.SimpleRateThrottle):
    """Per-key request rate (REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['agent'])."""

    scope = "agent"

    def get_cache_key(self, request, view):
        if not is_agent(request):
            return None  # staff sessions are not throttled here
        return self.cache_format % {"scope": self.scope, "ident": request.user.api_key.prefix}

    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


def require_staff_permission(request, permission: str) -> None:
    """Staff act within their Django model permissions, on the API as in the admin (design.md
    §5); agent keys are governed by their scopes instead."""
    if not is_agent(request) and not request.user.has_perm(permission):
        raise exceptions.PermissionDenied(f"your account lacks the {permission} permission")
