"""Who is calling the API: an agent (API key) or a staff member (session)."""

from django.conf import settings
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser


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


class AgentKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`; keys are stored hashed by djangorestframework-api-key."""

    keyword = KeyParser.keyword

    def authenticate(self, request):
        key = KeyParser().get(request._request)
        if key is None:
            return None
        try:
            api_key = APIKey.objects.get_from_key(key)
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
