"""The admin's delivery list: filter failed ones, "retry now" only with its permission."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from callbacks.models import CallbackDelivery, DeliveryStatus
from diffs.models import PendingDiff

pytestmark = pytest.mark.django_db
URL = "/admin/callbacks/callbackdelivery/"


def delivery(status, error=""):
    diff = PendingDiff.objects.create(owner_id="maya", label="student", operation="append",
                                      arguments={"text": "x"}, status="approved")
    now = timezone.now()
    return CallbackDelivery.objects.create(diff=diff, event="approved", url="https://hooks.example.org/t?token=s3cret",
                                           status=status, attempts=3, last_error=error,
                                           give_up_at=now - timedelta(seconds=1))


def staff_client(django_user_model, *perms):
    user = django_user_model.objects.create_user("sam", password="pw-sam-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def test_staff_list_deliveries_and_filter_failed_ones(django_user_model):
    failed = delivery(DeliveryStatus.FAILED, "HTTP 500: receiver says no")
    done = delivery(DeliveryStatus.DELIVERED)
    client = staff_client(django_user_model, "view_callbackdelivery")
    page = client.get(URL).content.decode()
    assert str(failed.pk) in page and str(done.pk) in page
    assert "hooks.example.org" in page and "s3cret" not in page  # the list shows the host only
    failed_only = client.get(URL, {"status__exact": "failed"}).content.decode()
    assert str(failed.pk) in failed_only and str(done.pk) not in failed_only
    assert "HTTP 500: receiver says no" in failed_only
    assert 'value="retry_now"' not in page  # no permission, no action
    assert client.get(f"{URL}add/").status_code == 403


def test_retry_now_needs_its_permission_and_reschedules(django_user_model):
    failed = delivery(DeliveryStatus.FAILED, "HTTP 500")
    viewer = staff_client(django_user_model, "view_callbackdelivery")
    refused = viewer.post(URL, {"action": "retry_now", "_selected_action": [str(failed.pk)]})
    failed.refresh_from_db()
    assert refused.status_code in (200, 302) and failed.status == DeliveryStatus.FAILED

    retrier = django_user_model.objects.create_user("rob", password="pw-rob-123", is_staff=True)
    retrier.user_permissions.set(Permission.objects.filter(
        codename__in=["view_callbackdelivery", "retry_callbackdelivery"]))
    client = Client()
    client.force_login(retrier)
    assert 'value="retry_now"' in client.get(URL).content.decode()
    response = client.post(URL, {"action": "retry_now", "_selected_action": [str(failed.pk)]}, follow=True)
    assert "1 delivery scheduled now" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.PENDING and failed.next_attempt_at <= timezone.now()
    assert failed.give_up_at > timezone.now() + timedelta(hours=1)
