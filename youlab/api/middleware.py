"""The browser's auth and messages middleware, which agent requests pass straight through.

`request.user` from the session and the messages framework serve people in a browser (the
admin, a staff member's session on the API). An agent's request to the API carries its key in
`Authorization: Api-Key …`, which AgentKeyAuthentication checks before any session (and which
sets `request.user` itself), so for it these two only build state no one reads. Everything else
keeps them: a request outside `/api/`, or one without an API key, goes through both as before.

The session and CSRF middleware stay Django's own, for every request: `manage.py check
--deploy` looks for them by name (a subclass skipping agent requests made it warn that CSRF
protection was off), and what they cost an agent request is within the noise (bench: the
shortcut on all four, or on these two only, 1.80 and 1.78 ms in the worker against 1.84 without).
"""

from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware

from .auth import AgentKeyAuthentication

API_PREFIX = "/api/"
_AUTHORIZATION_PREFIX = AgentKeyAuthentication.keyword + " "


def agent_key_request(request) -> bool:
    """An API request that names an agent key (valid or not: the API's authentication decides)."""
    return request.path_info.startswith(API_PREFIX) and request.META.get(
        "HTTP_AUTHORIZATION", ""
    ).startswith(_AUTHORIZATION_PREFIX)


class BrowserOnly:
    """Mixed into a middleware (before it): an agent request skips it."""

    def __call__(self, request):
        if agent_key_request(request):
            return self.get_response(request)
        return super().__call__(request)


class AuthenticationMiddleware(BrowserOnly, _AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnly, _MessageMiddleware):
    pass
