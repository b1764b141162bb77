"""The module chat and learner key lists in the admin show the learner's name beside the id."""

import pytest
from django.test import Client
from django.urls import reverse

from chats import services
from learners import services as learner_services
from youlab.actors import Actor

OWUI_KEY = "sk-owui-test-1234567890abcdefWXYZ"


@pytest.mark.django_db
def test_chat_and_key_lists_name_the_learner(staff_user):
    client = Client()
    client.force_login(staff_user)
    services.upsert_module_chat(user_id="maya", agent_id="tutor", module_id="m1", chat_id="c1", by=Actor.system())
    services.set_user_key(user_id="maya", key=OWUI_KEY, by=Actor.system())
    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.system())
    for name in ("admin:chats_modulechat_changelist", "admin:chats_userapikey_changelist"):
        page = client.get(reverse(name)).content.decode()
        assert "Maya Thompson</a> <small class=\"quiet\">maya</small>" in page, name
        assert OWUI_KEY not in page
