"""Which callback URLs a proposal may carry (400 callback_not_allowed, nothing stored) and how a
delivery behaves toward hostile receivers (redirects, huge answers, hosts dropped from the list)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from callbacks import services
from callbacks.models import CallbackDelivery, DeliveryStatus
from diffs import services as diff_services
from tests.factories import make_block
from tests.support import api, assert_error, snapshot
from youlab import webhooks
from youlab.actors import Actor

from .conftest import SECRET, running_receiver

pytestmark = pytest.mark.django_db


def propose(agent_client, callback_url):
    return agent_client.post(api("users", "maya", "blocks", "student", "diffs"),
                             {"operation": "append", "text": "Likes chess", "callback_url": callback_url},
                             format="json")


@pytest.fixture
def block():
    return make_block(owner_id="maya", label="student", content="# Student\n")


@pytest.mark.parametrize("url, why", [
    ("http://example.com/hook", "not in YOULAB_WEBHOOK_HOSTS"),
    ("http://169.254.169.254/latest/meta-data/", "not in YOULAB_WEBHOOK_HOSTS"),
    ("http://10.0.0.5/hook", "not in YOULAB_WEBHOOK_HOSTS"),
    ("http://[::1]:8000/hook", "not in YOULAB_WEBHOOK_HOSTS"),
    ("http://[::ffff:169.254.169.254]/", "not in YOULAB_WEBHOOK_HOSTS"),
    ("http://localhost:8000/hook", "non-public address"),  # a listed name resolving to loopback
    ("http://tutor:pw@127.0.0.1:8000/hook", "user info"),
    ("ftp://127.0.0.1/hook", "http or https"),
    ("javascript:alert(1)", "http or https"),
    ("http://127.0.0.1:99999/hook", "not a valid URL"),
    ("http://127.0.0.1/hook#frag", "fragment"),
    ("http://127.0.0.1/ho ok", "spaces"),
    ("http://127.0.0.1/" + "a" * 2000, "at most 2000"),
])
def test_a_disallowed_callback_url_is_400_and_nothing_is_stored(agent, block, webhooks_on, url, why):
    # localhost is listed by name only: the loopback address it resolves to is not.
    webhooks_on.YOULAB_WEBHOOK_HOSTS = ["localhost", "example.org"] if "localhost" in url else ["127.0.0.1"]
    before = snapshot()
    error = assert_error(propose(agent, url), 400, "callback_not_allowed")
    assert why in error["message"]
    assert snapshot() == before


def test_without_a_webhook_secret_no_callback_is_accepted(agent, block, webhooks_on):
    webhooks_on.YOULAB_WEBHOOK_SECRET = ""
    before = snapshot()
    error = assert_error(propose(agent, "http://127.0.0.1:9/hook"), 400, "callback_not_allowed")
    assert "YOULAB_WEBHOOK_SECRET" in error["message"]
    assert snapshot() == before


def test_listed_hosts_names_wildcards_and_networks(webhooks_on):
    webhooks_on.YOULAB_WEBHOOK_HOSTS = ["127.0.0.0/8", "*.example.org"]
    target = webhooks.check_callback_url("http://127.0.0.2:8080/a/b?c=d")
    assert (target.host, target.port, target.path, target.addresses) == ("127.0.0.2", 8080, "/a/b?c=d", ("127.0.0.2",))
    with pytest.raises(webhooks.CallbackNotAllowed, match="not in YOULAB_WEBHOOK_HOSTS"):
        webhooks.check_callback_url("https://example.org/hook")  # *.example.org is subdomains only
    with pytest.raises(webhooks.CallbackNotAllowed, match="not in YOULAB_WEBHOOK_HOSTS"):
        webhooks.check_callback_url("https://evil-example.org/hook")
    with pytest.raises(webhooks.CallbackNotAllowed, match="does not resolve"):
        webhooks.check_callback_url("https://nothing.invalid.example.org/hook")  # listed, no DNS


def test_an_accepted_callback_url_is_stored_not_shown_and_part_of_the_idempotent_request(agent, block, webhooks_on):
    url = "http://127.0.0.1:9/hook?token=agent-secret"
    first = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                       {"operation": "append", "text": "x", "callback_url": url}, format="json",
                       HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert "callback_url" not in first.json() and "agent-secret" not in first.content.decode()
    assert diff_services.PendingDiff.objects.get(pk=first.json()["id"]).callback_url == url
    replay = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                        {"operation": "append", "text": "x", "callback_url": url}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    other = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                       {"operation": "append", "text": "x", "callback_url": url + "2"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(other, 409, "idempotency_key_reused")


def test_signatures(webhooks_on):
    body = b'{"id": "d1", "status": "approved"}'
    headers = webhooks.signed_headers(body, "delivery-1", "approved", timestamp=1_700_000_000)
    assert headers["X-YouLab-Signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    timestamped = hmac.new(SECRET.encode(), b"1700000000.delivery-1." + body, hashlib.sha256).hexdigest()
    assert headers["X-YouLab-Signature-Timestamped"] == "sha256=" + timestamped
    assert headers["X-YouLab-Delivery"] == "delivery-1" and headers["X-YouLab-Timestamp"] == "1700000000"
    assert SECRET not in "".join(headers.values())


def _decided_delivery(agent, url):
    make_block(owner_id="maya", label="student", content="# Student\n")
    response = propose(agent, url)
    assert response.status_code == 201, response.json()
    from django.contrib.auth import get_user_model

    reviewer = get_user_model().objects.create_user("rita", is_staff=True)
    diff_services.approve_diff(diff_id=response.json()["id"], by=Actor.staff(reviewer))
    return CallbackDelivery.objects.get(diff_id=response.json()["id"])


def test_redirects_are_not_followed(agent, webhooks_on):
    with running_receiver() as elsewhere, running_receiver() as redirecting:
        redirecting.answers = [(302, {"Location": elsewhere.url("/stolen")})]
        delivery = _decided_delivery(agent, redirecting.url())
        (claimed,) = services.claim_due(worker="w1", limit=5)
        delivery = services.deliver(delivery=claimed, worker="w1")
    assert len(redirecting.received) == 1 and elsewhere.received == []
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 302 and "redirects are not followed" in delivery.last_error


def test_a_host_dropped_from_the_list_fails_the_delivery_without_sending(agent, webhooks_on, receiver):
    delivery = _decided_delivery(agent, receiver.url())
    webhooks_on.YOULAB_WEBHOOK_HOSTS = []
    (claimed,) = services.claim_due(worker="w1", limit=5)
    delivery = services.deliver(delivery=claimed, worker="w1")
    assert receiver.received == []
    assert delivery.status == DeliveryStatus.FAILED and "not sent" in delivery.last_error


def test_retries_end_when_the_window_is_over_and_retry_now_reopens_it(agent, webhooks_on, receiver):
    webhooks_on.YOULAB_WEBHOOK_RETRY_SECONDS = 0
    receiver.answers = [500]
    delivery = _decided_delivery(agent, receiver.url())
    (claimed,) = services.claim_due(worker="w1", limit=5)
    delivery = services.deliver(delivery=claimed, worker="w1")
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_error == "HTTP 500: receiver says no"
    assert services.claim_due(worker="w1", limit=5) == []
    webhooks_on.YOULAB_WEBHOOK_RETRY_SECONDS = 3600
    assert services.retry_now(deliveries=[delivery]) == 1
    (claimed,) = services.claim_due(worker="w1", limit=5)
    delivery = services.deliver(delivery=claimed, worker="w1")
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert services.retry_now(deliveries=[delivery]) == 0  # delivered ones are left alone
    assert len(receiver.received) == 2


def test_a_claimed_delivery_is_not_handed_to_a_second_worker(agent, webhooks_on, receiver):
    _decided_delivery(agent, receiver.url())
    assert len(services.claim_due(worker="w1", limit=5)) == 1
    assert services.claim_due(worker="w2", limit=5) == []
