"""`users/{id}/profile/`: read and set a learner's display name and email."""

import pytest

from learners.models import HistoricalLearner, Learner
from tests.support import api, assert_error
from youlab import dolt

pytestmark = pytest.mark.django_db


def test_a_learner_without_a_profile_reads_as_an_empty_one(agent):
    response = agent.get(api("users", "maya", "profile"))
    assert response.status_code == 200
    assert response.json() == {"user_id": "maya", "display_name": "", "email": "", "updated_by": None,
                               "updated_at": None}


@pytest.mark.django_db(transaction=True)
def test_an_agent_sets_the_name_then_the_email(agent):
    before = dolt.log_count()
    response = agent.put(api("users", "maya", "profile"), {"display_name": "Maya Thompson"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["display_name"], body["email"], body["updated_by"]) == ("Maya Thompson", "", "agent:tutor")

    response = agent.put(api("users", "maya", "profile"), {"email": "maya@example.org"}, format="json")
    assert response.status_code == 200
    assert (response.json()["display_name"], response.json()["email"]) == ("Maya Thompson", "maya@example.org")
    assert agent.get(api("users", "maya", "profile")).json()["email"] == "maya@example.org"
    assert HistoricalLearner.objects.filter(user_id="maya").count() == 2
    assert dolt.log_count() == before + 2
    assert dolt.log(limit=1)[0].author == "agent:tutor"

    # Clearing with "" (or null), and an unchanged PUT writes nothing.
    assert agent.put(api("users", "maya", "profile"), {"email": None}, format="json").json()["email"] == ""
    assert agent.put(api("users", "maya", "profile"), {"email": ""}, format="json").status_code == 200
    assert HistoricalLearner.objects.filter(user_id="maya").count() == 3


def test_staff_may_read_and_set_profiles_too(staff):
    assert staff.put(api("users", "maya", "profile"), {"display_name": "Maya"}, format="json").status_code == 201
    assert Learner.objects.get(user_id="maya").updated_by == "staff:rita"
    assert staff.get(api("users", "maya", "profile")).json()["display_name"] == "Maya"


def test_staff_without_the_learner_permissions_are_refused(db, django_user_model):
    from rest_framework.test import APIClient

    viewer = django_user_model.objects.create_user("vic", password="pw-vic-12345", is_staff=True)
    client = APIClient()
    client.force_login(viewer)
    assert_error(client.get(api("users", "maya", "profile")), 403, "permission_denied")
    assert_error(client.put(api("users", "maya", "profile"), {"display_name": "x"}, format="json"),
                 403, "permission_denied")
    assert not Learner.objects.exists()


@pytest.mark.parametrize("body,code", [
    ({}, "invalid_input"),
    ({"displayName": "Maya"}, "invalid_input"),
    ({"display_name": "x" * 256}, "invalid_input"),
    ({"display_name": "Maya\u0000"}, "invalid_input"),
    ({"display_name": 12}, "invalid_input"),
    ({"email": "maya-at-example"}, "invalid_input"),
    (["Maya"], "invalid_input"),
])
def test_invalid_bodies_are_400_and_change_nothing(agent, body, code):
    assert_error(agent.put(api("users", "maya", "profile"), body, format="json"), 400, code)
    assert not Learner.objects.exists()


def test_bad_learner_ids_and_callers_without_a_key(agent, anon, revoked):
    assert_error(agent.get(api("users", "a\\b", "profile")), 400, "invalid_input")
    assert_error(anon.get(api("users", "maya", "profile")), 401, "not_authenticated")
    assert_error(revoked.put(api("users", "maya", "profile"), {"display_name": "x"}, format="json"),
                 401, "authentication_failed")
    assert not Learner.objects.exists()
