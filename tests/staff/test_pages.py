"""Staff-only access to every staff page; the learner pages and the Dolt log page."""

import pytest
from django.test import Client
from django.urls import reverse

from chats import services as chat_services
from diffs import services
from learners import services as learner_services
from learners.models import Learner
from tests.factories import make_block, propose
from youlab import dolt
from youlab.actors import Actor

OWUI_KEY = "sk-owui-test-1234567890abcdefWXYZ"


@pytest.fixture
def client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def maya(db, staff_user):
    block = make_block(owner_id="maya", label="student", content="Name: Maya\n", char_limit=500)
    make_block(owner_id="maya", label="journey", content="week 1\n")
    old = make_block(owner_id="maya", label="old", content="gone\n")
    from blocks import services as block_services

    block_services.set_block_deleted(block=old, deleted=True, by=Actor.system())
    open_diff = propose(block, "append", text="Likes chess", reasoning="said so")
    decided = propose(block, "append", text="Likes go")
    services.reject_diff(diff_id=decided.pk, by=Actor.staff(staff_user), reason="not true")
    chat_services.upsert_module_chat(user_id="maya", agent_id="tutor", module_id="essay-1",
                                     chat_id="chat-abc", by=Actor.system())
    chat_services.set_user_key(user_id="maya", key=OWUI_KEY, by=Actor.system())
    return {"block": block, "open": open_diff, "decided": decided}


def staff_urls(block=None, diff=None):
    urls = [
        reverse("admin:index"),
        reverse("staff:apps"),
        reverse("staff:learners"),
        reverse("staff:learner", args=["maya"]),
        reverse("staff:dolt-log"),
        reverse("admin:diffs_pendingdiff_changelist"),
        reverse("admin:blocks_block_changelist"),
    ]
    if diff is not None:
        urls.append(reverse("admin:diffs_pendingdiff_change", args=[diff.pk]))
    if block is not None:
        urls += [reverse(f"admin:blocks_block_{name}", args=[block.pk])
                 for name in ("change", "history", "compare", "edit_content", "settings", "soft_delete", "restore")]
        urls.append(reverse("admin:blocks_block_revert", args=[block.pk, 1]))
    return urls


@pytest.mark.django_db
def test_anonymous_and_non_staff_users_are_sent_to_the_login(maya, django_user_model):
    urls = staff_urls(maya["block"], maya["open"])
    learner = django_user_model.objects.create_user("lena", password="pw-lena-123")
    member = Client()
    member.force_login(learner)
    for who in (Client(), member):
        for url in urls:
            for method in (who.get, who.post):
                response = method(url)
                assert response.status_code == 302, (url, response.status_code)
                assert response["Location"].startswith(reverse("admin:login")), url
    assert maya["open"].__class__.objects.get(pk=maya["open"].pk).status == "pending"


@pytest.mark.django_db
def test_every_staff_page_renders_for_staff(client, maya):
    for url in staff_urls(maya["block"], maya["open"]):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        assert b"YouLab staff" in response.content, url


@pytest.mark.django_db
def test_learner_list_finds_learners_by_id_prefix(client, maya):
    make_block(owner_id="mateo", label="student", content="x")
    make_block(owner_id="sofia", label="student", content="y")
    chat_services.set_user_key(user_id="zoe", key=OWUI_KEY, by=Actor.system())  # owns only a key

    rows = client.get(reverse("staff:learners")).context["rows"]
    assert [(r.user_id, r.blocks, r.pending) for r in rows] == [("mateo", 1, 0), ("maya", 3, 1), ("sofia", 1, 0)]
    assert [r.user_id for r in client.get(reverse("staff:learners"), {"q": "ma"}).context["rows"]] == ["mateo", "maya"]
    assert [r.user_id for r in client.get(reverse("staff:learners"), {"q": "zoe"}).context["rows"]] == ["zoe"]
    assert client.get(reverse("staff:learners"), {"q": "nobody"}).context["rows"] == []


@pytest.mark.django_db
def test_learner_list_shows_names_and_finds_learners_by_name(client, maya):
    make_block(owner_id="a8d2", label="student", content="x")
    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.system())
    learner_services.set_learner_profile(user_id="a8d2", display_name="Sofía Ramírez", by=Actor.system())
    learner_services.set_learner_profile(user_id="only-named", display_name="Maya Lopez", by=Actor.agent("tutor"))

    rows = client.get(reverse("staff:learners")).context["rows"]
    assert [(r.user_id, r.name) for r in rows] == [("a8d2", "Sofía Ramírez"), ("maya", "Maya Thompson")]
    found = client.get(reverse("staff:learners"), {"q": "maya"})
    assert [(r.user_id, r.name) for r in found.context["rows"]] == [("maya", "Maya Thompson"), ("only-named", "Maya Lopez")]
    assert "Maya Lopez" in found.content.decode()
    assert [r.user_id for r in client.get(reverse("staff:learners"), {"q": "SOFIA ram"}).context["rows"]] == ["a8d2"]


@pytest.mark.django_db
def test_learner_page_shows_the_name_and_staff_can_set_it(client, maya):
    url = reverse("staff:learner", args=["maya"])
    page = client.get(url).content.decode()
    assert "No name known yet" in page
    response = client.post(url, {"display_name": "Maya Thompson", "email": "maya@example.org"})
    assert response.status_code == 302
    learner = Learner.objects.get(user_id="maya")
    assert (learner.display_name, learner.email, learner.updated_by) == ("Maya Thompson", "maya@example.org", "staff:rita")
    response = client.get(url)
    assert response.context["title"] == "Maya Thompson (maya)"
    assert "Learners</a> &rsaquo; Maya Thompson (maya)" in response.content.decode()
    invalid = client.post(url, {"display_name": "Maya", "email": "nope"})
    assert invalid.status_code == 200 and "is not an email address" in invalid.content.decode()
    assert Learner.objects.get(user_id="maya").display_name == "Maya Thompson"


@pytest.mark.django_db
def test_learner_list_pages_with_a_cursor(client):
    for i in range(55):
        make_block(owner_id=f"learner-{i:03d}", label="student", content="x")
    first = client.get(reverse("staff:learners"))
    assert len(first.context["rows"]) == 50 and first.context["next_url"] == "?after=learner-049"
    second = client.get(reverse("staff:learners") + first.context["next_url"])
    assert [r.user_id for r in second.context["rows"]] == [f"learner-{i:03d}" for i in range(50, 55)]
    assert second.context["next_url"] == ""


@pytest.mark.django_db
def test_learner_overview_shows_blocks_diffs_chats_and_a_masked_key(client, maya):
    response = client.get(reverse("staff:learner", args=["maya"]))
    page = response.content.decode()
    overview = response.context["learner"]
    assert [b.label for b in overview.blocks] == ["journey", "old", "student"]
    assert [d.pk for d in overview.open_diffs] == [maya["open"].pk]
    assert [d.pk for d in overview.recent_decisions] == [maya["decided"].pk]
    assert "chat-abc" in page and "essay-1" in page
    assert "…WXYZ" in page and overview.api_key.fingerprint in page
    assert OWUI_KEY not in page and "abcdef" not in page  # never the key, never the ciphertext
    assert "ciphertext" not in overview.api_key.__dict__  # not even loaded
    assert reverse("admin:diffs_pendingdiff_change", args=[maya["open"].pk]) in page
    assert reverse("admin:blocks_block_change", args=[maya["block"].pk]) in page
    assert "deleted" in page
    decisions = page.split('id="decisions"')[1].split('id="module-chats"')[0]
    assert '<td class="staff-review-note">not true</td>' in decisions  # the reviewer's reason
    rejected_tab = client.get(reverse("admin:diffs_pendingdiff_changelist"), {"status": "rejected"})
    assert 'title="not true">not true</span>' in rejected_tab.content.decode()


@pytest.mark.django_db
def test_unknown_learner_page_is_empty_not_an_error(client):
    response = client.get(reverse("staff:learner", args=["nobody"]))
    assert response.status_code == 200 and "Nothing is stored for this learner" in response.content.decode()


@pytest.mark.django_db
def test_learner_overview_query_count_does_not_grow(client, staff_user, django_assert_max_num_queries):
    def count_queries(user_id, **params):
        url = reverse("staff:learner", args=[user_id])
        client.get(url, params)
        # +1 since the profile (name); +2 for the key's reads and their count; +3 for the blocks
        # as of a date
        with django_assert_max_num_queries(13 + 3 * bool(params)) as captured:
            assert client.get(url, params).status_code == 200
        return len(captured)

    def learner(user_id, n):
        chat_services.set_user_key(user_id=user_id, key=f"sk-{user_id}-0123456789", by=Actor.system())
        for i in range(n):
            chat_services.read_user_key(user_id=user_id, by=Actor.agent("tutor"))
            block = make_block(owner_id=user_id, label=f"label-{i}", content="x\n")
            propose(block, "append", text="y")
            services.reject_diff(diff_id=propose(block, "append", text="z").pk, by=Actor.staff(staff_user), reason="no")
            services.approve_diff(diff_id=propose(block, "append", text="w").pk, by=Actor.staff(staff_user))
            chat_services.upsert_module_chat(user_id=user_id, agent_id="tutor", module_id=f"m{i}",
                                             chat_id=f"c{i}", by=Actor.system())

    learner("small", 3)
    learner("large", 30)
    assert count_queries("small") == count_queries("large")
    as_of = "2100-01-01T00:00"
    assert count_queries("small", as_of=as_of) == count_queries("large", as_of=as_of)


@pytest.mark.django_db(transaction=True)
def test_dolt_log_page_lists_commits_with_author_and_links_to_diffs(client, staff_user):
    block = make_block(owner_id="maya", label="student", content="Name: Maya\n")
    dolt.commit("base")
    diff = propose(block, "append", text="Likes chess")
    services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user))

    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.system())
    response = client.get(reverse("staff:dolt-log"))
    page = response.content.decode()
    assert response.status_code == 200
    newest = response.context["entries"][1]["entry"]  # [0] is the profile
    assert (newest.author, newest.email) == ("Rita Reviewer", "rita@example.org")
    assert f"Approve diff {diff.pk}" in newest.message
    assert f'<a href="{reverse("admin:diffs_pendingdiff_change", args=[diff.pk])}">{diff.pk}</a>' in page
    assert newest.commit_hash[:10] in page
    assert response.context["page"].paginator.count == dolt.log_count()
    # Learner ids in messages carry the learner's name.
    learner_link = f'<a href="{reverse("staff:learner", args=["maya"])}">maya</a> <span class="staff-learner-name">(Maya Thompson)</span>'
    assert str(response.context["entries"][1]["message"]).count(learner_link) == 1
    assert "of learner " + learner_link in str(response.context["entries"][0]["message"])


@pytest.mark.django_db(transaction=True)
def test_dolt_log_page_is_paginated(client):
    for i in range(55):
        dolt.commit(f"commit number {i}", allow_empty=True)
    first = client.get(reverse("staff:dolt-log"))
    assert len(first.context["entries"]) == 50
    assert first.context["entries"][0]["entry"].message == "commit number 54"
    second = client.get(reverse("staff:dolt-log"), {"p": 2})
    messages = [e["entry"].message for e in second.context["entries"]]
    assert messages[:5] == [f"commit number {i}" for i in range(4, -1, -1)]
    assert 'href="?p=2"' in first.content.decode()


@pytest.mark.django_db
def test_learner_page_as_of_a_date_shows_every_block_as_it_was_and_what_changed(client, staff_user):
    from datetime import timedelta

    from django.utils import timezone

    from blocks import services as block_services
    from blocks.models import HistoricalBlock

    student = make_block(owner_id="maya", label="student", content="Name: Maya\nGoal: bakery essay\n")
    block_services.update_block_content(block=student, content="Name: Maya\nGoal: grandmother essay\n", by=Actor("staff", "rita"),
                                        reason="v2", dolt_commit=False)
    journey = make_block(owner_id="maya", label="journey", content="week 1\n")
    march, may = timezone.now() - timedelta(days=90), timezone.now() - timedelta(days=30)
    HistoricalBlock.objects.filter(id=student.pk, version=1).update(history_date=march)
    HistoricalBlock.objects.filter(id=student.pk, version=2).update(history_date=may)
    url = reverse("staff:learner", args=["maya"])

    response = client.get(url, {"as_of": (march + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})
    entries = {e.block.label: e for e in response.context["blocks_as_of"]}
    assert entries["student"].then.version == 1 and entries["student"].then.content == "Name: Maya\nGoal: bakery essay\n"
    assert entries["student"].changed and not entries["journey"].existed
    page = response.content.decode()
    section = page.split('data-label="student"')[1].split("</section>")[0]
    assert "Goal: bakery essay" in section and "changed since" in section
    assert "<del>bakery</del>" in section and "<ins>grandmother</ins>" in section  # then → now
    assert f"?a=1&amp;b=2" in section
    assert "did not exist yet" in page.split('data-label="journey"')[1].split("</section>")[0]

    now = client.get(url, {"as_of": (timezone.now() + timedelta(minutes=5)).isoformat()})
    assert all(not e.changed for e in now.context["blocks_as_of"])
    bad = client.get(url, {"as_of": "3 March"})
    assert bad.status_code == 200 and bad.context["blocks_as_of"] is None
    assert "is not a date and time" in bad.content.decode()
    assert journey.label in entries
