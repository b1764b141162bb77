"""The browser's middleware, which agent requests pass straight through.

Sessions, the CSRF cookie, `request.user` from the session and messages serve people in a
browser (the admin, a staff member's session on the API). An agent's request to the API carries
its key in `Authorization: Api-Key …`, which AgentKeyAuthentication checks before any session, so
for it these four only load and save state no one reads (a sixth of an API read's Python,
bench/profile_api.py). Everything else keeps them: a request outside `/api/`, or one without an
API key, goes through each as before.

CSRF is unaffected: API views are CSRF-exempt (DRF's SessionAuthentication enforces it for
session requests, which never take this shortcut), and CsrfViewMiddleware's view check still
runs for every request (Django calls it apart from the middleware's own `__call__`); without the
cookie step it can only refuse more.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware as _CsrfViewMiddleware

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


class SessionMiddleware(BrowserOnly, _SessionMiddleware):
    pass


class CsrfViewMiddleware(BrowserOnly, _CsrfViewMiddleware):
    pass


class AuthenticationMiddleware(BrowserOnly, _AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnly, _MessageMiddleware):
    pass
