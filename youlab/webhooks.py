"""Outgoing signed webhooks: which callback URLs are allowed, how a body is signed, one POST.

Ground floor (imports no app): the decision callbacks (callbacks/) use it to check an agent's
`callback_url` when it is proposed and again at every delivery attempt, and to send.

Rules (design.md §5, docs/agents.md):

* A URL is http(s), without user info, and its host is listed in YOULAB_WEBHOOK_HOSTS: a host
  name (`hooks.example.org`), a wildcard for its subdomains (`*.example.org`), an IP address or
  a network (`10.0.0.0/8`).
* Every address the host resolves to must be public, unless that address lies in a listed IP
  address or network: a listed *name* that resolves to a private, loopback, link-local or other
  special address is refused (DNS rebinding, cloud metadata at 169.254.169.254).
* Delivery re-checks all of that and connects to the very address it checked (no second DNS
  lookup between the check and the connection), follows no redirect, reads at most
  MAX_RESPONSE_BYTES of the answer, and sends nothing but the body and its signatures: the
  secret itself never leaves the process.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from youlab.errors import ServiceError

MAX_URL_LENGTH = 2000
MAX_RESPONSE_BYTES = 64 * 1024
CONNECT_TIMEOUT = 5.0
RESPONSE_TIMEOUT = 10.0
USER_AGENT = "YouLab-Callbacks/1"
SIGNATURE_HEADER = "X-YouLab-Signature"
TIMESTAMPED_SIGNATURE_HEADER = "X-YouLab-Signature-Timestamped"
DELIVERY_HEADER = "X-YouLab-Delivery"
TIMESTAMP_HEADER = "X-YouLab-Timestamp"
EVENT_HEADER = "X-YouLab-Event"


class CallbackNotAllowed(ServiceError):
    code = "callback_not_allowed"
    status = 400


@dataclass(frozen=True)
class Target:
    """A checked callback URL: where to connect (an address that passed the checks) and what to ask."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


def _allowlist() -> tuple[list[str], list]:
    names, networks = [], []
    for entry in getattr(settings, "YOULAB_WEBHOOK_HOSTS", []):
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.append(entry.rstrip("."))
    return names, networks


def _unmapped(address):
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


# IPv6 ranges Python's is_global calls global that reach or embed private networks: 6to4
# (2002::/16 carries an IPv4 address, e.g. 169.254.169.254 or 127.0.0.1), Teredo (2001::/32,
# likewise), the deprecated site-local fec0::/10, and NAT64's well-known prefix (64:ff9b::/96).
_NOT_PUBLIC_V6 = tuple(ipaddress.ip_network(n) for n in ("2002::/16", "2001::/32", "fec0::/10", "64:ff9b::/96"))


def _public(address) -> bool:
    if address.version == 6 and any(address in network for network in _NOT_PUBLIC_V6):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _name_listed(host: str, names: list[str]) -> bool:
    for name in names:
        if name.startswith("*."):
            if host.endswith(name[1:]) and fnmatch.fnmatchcase(host, name):
                return True
        elif host == name:
            return True
    return False


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise CallbackNotAllowed(f"callback host {host!r} does not resolve: {exc}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_callback_url(url) -> Target:
    """The checked target of `url`, or CallbackNotAllowed (400) saying why."""
    if not getattr(settings, "YOULAB_WEBHOOK_SECRET", ""):
        raise CallbackNotAllowed("decision callbacks are not configured on this server (YOULAB_WEBHOOK_SECRET)")
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise CallbackNotAllowed(f"callback_url must be a URL of at most {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise CallbackNotAllowed("callback_url must be plain ASCII without spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackNotAllowed(f"callback_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise CallbackNotAllowed("callback_url must be http or https")
    if parts.username is not None or parts.password is not None:
        raise CallbackNotAllowed("callback_url must not carry user info (credentials)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CallbackNotAllowed("callback_url has no host")
    if parts.fragment:
        raise CallbackNotAllowed("callback_url must not have a fragment")
    port = port or (443 if parts.scheme == "https" else 80)

    names, networks = _allowlist()
    try:
        literal = _unmapped(ipaddress.ip_address(host))
    except ValueError:
        literal = None
    if literal is not None:
        listed = any(literal in net for net in networks)
    else:
        listed = _name_listed(host, names)
    if not listed:
        raise CallbackNotAllowed(
            f"callback host {host!r} is not in YOULAB_WEBHOOK_HOSTS", details={"host": host}
        )

    addresses = _resolve(host, port)
    if not addresses:
        raise CallbackNotAllowed(f"callback host {host!r} does not resolve", details={"host": host})
    for text in addresses:
        address = _unmapped(ipaddress.ip_address(text.split("%", 1)[0]))
        if not _public(address) and not any(address in net for net in networks):
            raise CallbackNotAllowed(
                f"callback host {host!r} resolves to {address}, a non-public address that "
                "YOULAB_WEBHOOK_HOSTS does not list",
                details={"host": host, "address": str(address)},
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, tuple(addresses))


# --- signing -----------------------------------------------------------------------------------


def _secret() -> bytes:
    return settings.YOULAB_WEBHOOK_SECRET.encode("utf-8")


def signature(body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with YOULAB_WEBHOOK_SECRET."""
    return "sha256=" + hmac.new(_secret(), body, hashlib.sha256).hexdigest()


def timestamped_signature(timestamp: int, delivery_id: str, body: bytes) -> str:
    """`sha256=<hex>` of `<timestamp>.<delivery id>.<body>`: binds the replay-guard headers."""
    message = f"{timestamp}.{delivery_id}.".encode("ascii") + body
    return "sha256=" + hmac.new(_secret(), message, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, delivery_id: str, event: str, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(body),
        TIMESTAMPED_SIGNATURE_HEADER: timestamped_signature(timestamp, delivery_id, body),
    }


# --- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status: int | None
    error: str  # empty when ok
    retry: bool  # worth trying again later (False: the URL is no longer allowed)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address that passed the checks, whatever DNS says now."""

    def __init__(self, address, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), CONNECT_TIMEOUT)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, address, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), CONNECT_TIMEOUT)
        sock.settimeout(self.timeout)
        # The certificate is checked against the URL's host name (SNI too), not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def post_signed(url: str, body: bytes, *, delivery_id: str, event: str) -> PostResult:
    """POST `body` to `url` once, signed; never raises for what the receiver or network does."""
    try:
        target = check_callback_url(url)
    except CallbackNotAllowed as exc:
        return PostResult(False, None, f"not sent: {exc.message}", retry=False)
    headers = signed_headers(body, delivery_id, event)
    last = None
    for address in target.addresses[:2]:  # a second address when the first does not connect
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(address, target.host, target.port, timeout=RESPONSE_TIMEOUT,
                                          context=ssl.create_default_context())
        else:
            conn = _PinnedHTTPConnection(address, target.host, target.port, timeout=RESPONSE_TIMEOUT)
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            last = PostResult(False, None, _describe(exc), retry=True)
            if isinstance(exc, ConnectionRefusedError | socket.gaierror) or "timed out" in str(exc):
                continue
            return last
        finally:
            conn.close()
        if 200 <= response.status < 300:
            return PostResult(True, response.status, "", retry=False)
        snippet = answer[:200].decode("utf-8", "replace").strip()
        if 300 <= response.status < 400:
            error = f"HTTP {response.status}: redirects are not followed"
        else:
            error = f"HTTP {response.status}" + (f": {snippet}" if snippet else "")
        return PostResult(False, response.status, error[:500], retry=True)
    return last or PostResult(False, None, "no address to connect to", retry=True)
