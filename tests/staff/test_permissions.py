"""Least privilege for staff (design.md §5): the API checks the same Django model permissions as
the admin; the learner pages and the Dolt log need `blocks.view_block`; no admin URL writes for a
user without the change permission (simple-history's per-version forms and admin actions
included); the `Reviewers` group can review and nothing more."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

from blocks import services as block_services
from blocks.models import HistoricalBlock
from chats import selectors as chat_selectors
from chats import services as chat_services
from chats.models import HistoricalModuleChat, ModuleChat
from diffs.models import DiffStatus, PendingDiff
from tests.factories import make_agent_key, make_block, propose
from tests.support import api, api_routes, assert_error, route_path
from youlab import dolt
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

OWUI_KEY = "sk-owui-0123456789abcdefWXYZ"
# Every table a request could change (the session table aside: logging in writes it).
WATCHED_TABLES = (
    "blocks", "block_history", "pending_diffs", "proposal_claims", "module_chats", "module_chat_history",
    "user_api_keys", "user_api_key_secrets", "owui_key_reads", "agent_keys", "auth_user", "auth_group",
    "auth_group_permissions", "auth_user_groups", "auth_user_user_permissions", "django_admin_log",
    "learners", "learner_history", "learner_name_words",
)


def database_state():
    """A hash per watched table (Dolt's own, of the rows this session sees) and the Dolt log size."""
    with connection.cursor() as cursor:
        hashes = {}
        for table in WATCHED_TABLES:
            cursor.execute("SELECT dolt_hashof_table(%s)", [table])
            hashes[table] = cursor.fetchone()[0]
    return hashes, dolt.log_count()


@pytest.fixture
def world(staff_user):
    block = make_block(owner_id="maya", label="student", content="# Student\nName: Maya\n", dolt_commit=True)
    block_services.update_block_content(block=block, content=block.content + "Goal: essay\n", by=Actor.system(), reason="seed")
    make_block(owner_type="shared", owner_id="course", label="student", content="shared\n")
    diff = propose(block, "append", text="Likes chess")
    other = propose(block, "append", text="Likes go", agent="coach")
    chat_services.upsert_module_chat(user_id="maya", agent_id="tutor", module_id="m1", chat_id="c1",
                                     by=Actor.system())
    chat_services.set_user_key(user_id="maya", key=OWUI_KEY, by=Actor.system())
    return {"block": block, "diff": diff, "other": other,
            "chat": ModuleChat.objects.get(user_id="maya")}


def staff_member(django_user_model, username, *, group=None, permissions=()):
    user = django_user_model.objects.create_user(username, password=f"pw-{username}-123", is_staff=True,
                                                 email=f"{username}@example.org")
    if group:
        user.groups.add(Group.objects.get(name=group))
    for perm in permissions:
        user.user_permissions.add(perm)
    return user


@pytest.fixture
def nobody(django_user_model):
    return staff_member(django_user_model, "nobody")


@pytest.fixture
def reviewer(django_user_model):
    return staff_member(django_user_model, "rev", group="Reviewers")


@pytest.fixture
def viewer(django_user_model):
    """May view every model, change none."""
    return staff_member(django_user_model, "viewer", permissions=Permission.objects.filter(codename__startswith="view_"))


def api_client(user):
    client = APIClient()
    client.force_login(user)
    return client


def admin_client(user):
    client = Client()
    client.force_login(user)
    return client


# --- the Reviewers group ------------------------------------------------------------------------


def test_the_reviewers_group_holds_the_review_permissions_and_no_key_permission():
    perms = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name="Reviewers").permissions.all()}
    assert perms == {"diffs.view_pendingdiff", "diffs.change_pendingdiff", "blocks.view_block",
                     "blocks.change_block", "chats.view_modulechat", "learners.view_learner"}


# --- the API ------------------------------------------------------------------------------------


def _api_cases():
    return [(name, template, method, rule) for name, template, rules in api_routes()
            for method, rule in rules.items() if rule.permissions]


@pytest.mark.parametrize("name,template,method,rule", _api_cases(), ids=[f"{c[0]}-{c[2]}" for c in _api_cases()])
def test_a_staff_user_without_permissions_gets_403_on_every_api_route(world, nobody, name, template, method, rule):
    client = api_client(nobody)
    path = route_path(template, diff_id=world["diff"].pk)
    before = database_state()
    body = {"version": 1, "reason": "r", "key": "sk-another-key-12345678", "chat_id": "c2",
            "operation": "append", "text": "x", "note": ""}
    response = getattr(client, method.lower())(path, body if method in ("POST", "PUT") else None, format="json")
    error = assert_error(response, 403, "permission_denied")
    assert error["details"] == {"permission": rule.permissions[0]}
    assert database_state() == before


def test_each_permission_opens_exactly_its_routes(world, django_user_model):
    approver = staff_member(django_user_model, "approver", permissions=[
        Permission.objects.get(codename="change_pendingdiff")])
    client = api_client(approver)
    response = client.post(api("diffs", world["diff"].pk, "approve"), {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    # Deciding is not reading: the diff itself, the blocks and the learner's key stay closed.
    assert_error(client.get(api("diffs", world["diff"].pk)), 403, "permission_denied")
    assert_error(client.get(api("users", "maya", "blocks")), 403, "permission_denied")
    error = assert_error(client.post(api("users", "maya", "blocks", "student", "revert"), {"version": 1},
                                     format="json"), 403, "permission_denied")
    assert error["details"] == {"permission": "blocks.change_block"}


def test_a_reviewer_reviews_through_the_api_and_the_admin_but_never_sees_learners_keys(world, reviewer):
    client = api_client(reviewer)
    assert client.get(api("users", "maya", "diffs")).status_code == 200
    approved = client.post(api("diffs", world["diff"].pk, "approve"), {"note": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["reviewer"] == "rev"
    assert client.post(api("users", "maya", "blocks", "student", "revert"), {"version": 2},
                       format="json").status_code == 200
    assert client.get(api("users", "maya", "module-chats")).status_code == 200
    for method in ("get", "delete"):
        assert_error(getattr(client, method)(api("users", "maya", "owui-key")), 403, "permission_denied")
    assert_error(client.put(api("users", "maya", "owui-key"), {"key": "sk-x-12345678"}, format="json"),
                 403, "permission_denied")
    assert_error(client.put(api("users", "maya", "module-chats", "tutor", "m1"), {"chat_id": "c9"},
                            format="json"), 403, "permission_denied")

    pages = admin_client(reviewer)
    review = reverse("admin:diffs_pendingdiff_change", args=[world["other"].pk])
    assert pages.get(review).status_code == 200
    response = pages.post(review, {"_action": "reject", "reject-reason": "not so"})
    assert response.status_code == 302
    assert PendingDiff.objects.get(pk=world["other"].pk).status == DiffStatus.REJECTED
    learner = pages.get(reverse("staff:learner", args=["maya"]))
    assert learner.status_code == 200
    page = learner.content.decode()
    assert "c1" in page  # module chats: chats.view_modulechat is in the group
    assert 'id="key"' not in page and "…WXYZ" not in page  # the key card needs chats.view_userapikey
    assert pages.get(reverse("staff:dolt-log")).status_code == 200
    assert pages.get(reverse("admin:chats_userapikey_changelist")).status_code == 403


# --- staff pages --------------------------------------------------------------------------------


def test_staff_pages_need_view_block(world, nobody, django_user_model):
    pages = admin_client(nobody)
    for url in (reverse("staff:learners"), reverse("staff:learner", args=["maya"]), reverse("staff:dolt-log")):
        assert pages.get(url).status_code == 403, url
        assert pages.post(url).status_code == 403, url
    # Their landing page is the list of what they may see, not a 403 from the queue.
    assert pages.get(reverse("staff:home")).url == reverse("staff:apps")
    home = pages.get(reverse("staff:apps")).content.decode()
    assert reverse("staff:learners") not in home and reverse("staff:dolt-log") not in home

    allowed = staff_member(django_user_model, "looker", permissions=[Permission.objects.get(codename="view_block")])
    pages = admin_client(allowed)
    for url in (reverse("staff:learners"), reverse("staff:learner", args=["maya"]), reverse("staff:dolt-log")):
        assert pages.get(url).status_code == 200, url


# --- the admin: no URL writes without the change permission --------------------------------------


def _admin_patterns():
    """(model admin or None, route string) for every URL the admin site serves."""
    found = []

    def walk(patterns, prefix, model_admin):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route, model_admin)
            elif isinstance(pattern, URLPattern):
                found.append((model_admin, route, pattern.name))

    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}/{model._meta.model_name}/"
        walk(model_admin.urls, prefix, model_admin)
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLPattern):
            found.append((None, str(pattern.pattern), pattern.name))
    return found


def _fill(route, model_admin, world):
    model = model_admin.model if model_admin else None
    objects = {
        "block": world["block"].pk, "pendingdiff": world["diff"].pk, "modulechat": world["chat"].pk,
        "userapikey": chat_selectors.get_user_key_record(user_id="maya").pk,
    }
    versions = {
        "block": HistoricalBlock.objects.filter(id=world["block"].pk).order_by("history_id").first().history_id,
        "modulechat": HistoricalModuleChat.objects.filter(id=world["chat"].pk).first().history_id,
    }
    name = model._meta.model_name if model else ""
    values = {
        "object_id": objects.get(name, 1),
        "version_id": versions.get(name, 1),
        "version": 1,
        "app_label": "blocks",
    }
    path = route.replace("^", "").replace("$", "")
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), "1")), path)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values.get(m.group(1), "blocks")), path)
    positional = iter([values["object_id"], values["version_id"]])  # simple-history's re_path
    path = re.sub(r"\([^)]*\)", lambda m: str(next(positional)), path)
    return "/admin/" + path


def _posts(model_admin, world):
    """Bodies a hostile or careless POST could carry: every form field we have, and every action."""
    base = {
        "content": "overwritten", "version": "1", "reason": "r", "_action": "approve", "approve-note": "",
        "edit-edited_content": "overwritten", "edit-note": "", "reject-reason": "no", "chat_id": "overwritten",
        "user_id": "maya", "agent_id": "tutor", "module_id": "m1", "owner_id": "maya", "label": "student",
        "owner_type": "user", "description": "d", "char_limit": "5", "read_only": "on", "metadata": "{}",
        "fingerprint": "f", "last4": "abcd", "username": "evil", "password": "x", "password1": "pw-Evil-12345",
        "password2": "pw-Evil-12345", "name": "Evil", "is_staff": "on", "is_superuser": "on", "post": "yes",
        "_save": "Save", "_change_history": "1", "select_across": "0", "index": "0",
    }
    yield base
    if model_admin is not None:
        pks = [world["block"].pk, world["diff"].pk, world["chat"].pk]
        for action in list(model_admin.actions or ()) + ["delete_selected"]:
            yield {**base, "action": action if isinstance(action, str) else action.__name__,
                   "_selected_action": pks}


class _FormFields(HTMLParser):
    """The fields of the forms on a page with their current values (what a browser would send)."""

    def __init__(self):
        super().__init__()
        self.fields, self._textarea, self._select = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields[name] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and ("selected" in attrs or self._select not in self.fields):
            self.fields[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def _page_fields(client, url):
    response = client.get(url)
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return {}
    parser = _FormFields()
    parser.feed(response.content.decode())
    return parser.fields


def test_a_view_only_user_cannot_change_anything_through_any_admin_url(world, viewer):
    client = admin_client(viewer)
    before = database_state()
    skipped = {"logout", "password_change", "password_change_done", "login", "jsi18n", "view_on_site",
               "autocomplete"}
    tried = 0
    for model_admin, route, name in _admin_patterns():
        if name in skipped:
            continue
        url = _fill(route, model_admin, world)
        # What the page's own forms would send (every required field filled in), changed.
        shown = _page_fields(client, url)
        for body in _posts(model_admin, world):
            response = client.post(url, {**shown, **{k: v for k, v in body.items() if k not in shown or k in (
                "content", "chat_id", "edit-edited_content", "reject-reason", "action", "_selected_action",
                "post", "_change_history", "_save", "description", "is_superuser")}})
            assert response.status_code < 500, (url, response.status_code)
            tried += 1
        assert database_state() == before, url
    assert tried > 80
    # The staff pages outside the model admins: the learner page's profile form needs
    # learners.change_learner.
    page = reverse("staff:learner", args=["maya"])
    assert client.post(page, {**_page_fields(client, page), "display_name": "Evil", "email": "e@x.org"}
                       ).status_code == 403
    for url in (reverse("staff:learners"), reverse("staff:dolt-log"), reverse("staff:home")):
        client.post(url, {"display_name": "Evil"})
    assert database_state() == before
    # simple-history's per-version forms refuse the POST outright, for blocks and module chats.
    for url in (_fill("blocks/block/<path:object_id>/history/<str:version_id>/", admin.site._registry[
            world["block"].__class__], world),
                _fill("chats/modulechat/<path:object_id>/history/<str:version_id>/", admin.site._registry[ModuleChat],
                      world)):
        assert client.post(url, {"chat_id": "overwritten", "content": "overwritten"}).status_code == 405, url
    assert ModuleChat.objects.get().chat_id == "c1"


def test_module_chat_history_forms_never_save_even_for_superusers(world, staff_user):
    client = admin_client(staff_user)
    record = HistoricalModuleChat.objects.filter(id=world["chat"].pk).first()
    url = reverse("admin:chats_modulechat_simple_history", args=[world["chat"].pk, record.history_id])
    shown = _page_fields(client, url)
    assert shown["chat_id"] == "c1" and "created_at_0" in shown  # the whole form, as a browser has it
    response = client.post(url, {**shown, "chat_id": "overwritten", "_change_history": "1"})
    assert response.status_code == 405
    assert ModuleChat.objects.get().chat_id == "c1"


def test_clear_chats_needs_the_change_permission(world, viewer, django_user_model):
    changelist = reverse("admin:chats_modulechat_changelist")
    body = {"action": "clear_chats", "_selected_action": [world["chat"].pk], "index": "0"}
    view_only = admin_client(viewer)
    assert "clear_chats" not in view_only.get(changelist).content.decode()
    view_only.post(changelist, body)
    assert ModuleChat.objects.get().chat_id == "c1"

    changer = staff_member(django_user_model, "changer", permissions=Permission.objects.filter(
        codename__in=["view_modulechat", "change_modulechat"]))
    response = admin_client(changer).post(changelist, body)
    assert response.status_code == 302
    assert ModuleChat.objects.get().chat_id == ""
    row = HistoricalModuleChat.objects.filter(id=world["chat"].pk).order_by("-history_id").first()
    assert row.actor == "staff:changer"


def test_an_agent_key_is_never_a_staff_member(world):
    """Agent keys with every scope still get 403 on the staff routes (approve, reject, revert)."""
    _, key = make_agent_key("all-scopes")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_error(client.post(api("diffs", world["diff"].pk, "approve"), {}, format="json"), 403, "permission_denied")
    assert_error(client.post(api("users", "maya", "blocks", "student", "revert"), {"version": 1}, format="json"),
                 403, "permission_denied")
