"""The block admin: view-only form, service-backed edit, history, compare, revert, soft delete."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from blocks import services as block_services
from blocks.models import Block, HistoricalBlock
from diffs import services
from learners import services as learner_services
from tests.factories import make_block, propose
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"
BLOCKS = reverse("admin:blocks_block_changelist")


@pytest.fixture
def client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def block():
    return make_block(owner_id="maya", label="student", content=STUDENT, char_limit=200)


def url(name, block, *args):
    return reverse(f"admin:blocks_block_{name}", args=[block.pk, *args])


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def listed(response):
    return {b.pk for b in response.context["cl"].result_list}


def history(block):
    return list(HistoricalBlock.objects.filter(id=block.pk).order_by("version"))


def with_versions(block, staff_user, n):
    """Give the block n versions in all, the later ones by approved diffs."""
    for i in range(2, n + 1):
        services.approve_diff(diff_id=propose(block, "append", text=f"fact {i}").pk, by=Actor.staff(staff_user))
    block.refresh_from_db()
    return block


# --- the list ----------------------------------------------------------------------------------


def test_block_list_and_pages_show_the_learners_name_and_search_finds_it(client, block):
    other = make_block(owner_id="u-42", label="student", content="x")
    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.system())

    page = client.get(BLOCKS).content.decode()
    assert "Maya Thompson</a> <small class=\"quiet\">maya</small>" in page
    assert listed(client.get(BLOCKS, {"q": "thompson"})) == {block.pk}
    assert listed(client.get(BLOCKS, {"q": "u-42"})) == {other.pk}
    for name in ("change", "history", "compare", "edit_content", "settings", "soft_delete"):
        page = client.get(url(name, block)).content.decode()
        crumbs = page.split('<div class="breadcrumbs">')[1].split("</div>")[0]
        assert "student · Maya Thompson (maya)" in crumbs, name
    assert "<li>student · Maya Thompson (maya) (v1)</li>" in page  # what the soft-delete would touch


def test_list_shows_live_blocks_and_deleted_ones_behind_a_filter(client, block, staff_user):
    gone = make_block(owner_id="maya", label="old-notes", content="x")
    block_services.set_block_deleted(block=gone, deleted=True, by=Actor("staff", "rita"))
    other = make_block(owner_id="sofia", label="student", content="y")

    assert listed(client.get(BLOCKS)) == {block.pk, other.pk}
    assert listed(client.get(BLOCKS, {"state": "deleted"})) == {gone.pk}
    assert listed(client.get(BLOCKS, {"state": "all"})) == {block.pk, gone.pk, other.pk}
    assert listed(client.get(BLOCKS, {"learner": "maya", "state": "all"})) == {block.pk, gone.pk}
    assert listed(client.get(BLOCKS, {"q": "sofia"})) == {other.pk}  # a learner id, exactly
    assert listed(client.get(BLOCKS, {"q": "STUD"})) == {block.pk, other.pk}  # part of a label
    page = client.get(BLOCKS).content.decode()
    assert reverse("staff:learner", args=["maya"]) in page  # owner links to the learner page
    assert "50 / 200" in page  # characters / limit


def test_restore_and_soft_delete_actions_go_through_the_services(client, block):
    gone = make_block(owner_id="maya", label="old-notes", content="x")
    block_services.set_block_deleted(block=gone, deleted=True, by=Actor.system())

    response = client.post(f"{BLOCKS}?state=deleted", {"action": "restore_selected", "_selected_action": [gone.pk], "index": 0})
    assert response.status_code == 302
    gone.refresh_from_db()
    assert gone.deleted_at is None and gone.version == 3
    assert history(gone)[-1].actor == "staff:rita"

    confirm = client.post(BLOCKS, {"action": "soft_delete_selected", "_selected_action": [block.pk], "index": 0})
    assert confirm.status_code == 200 and "Soft-delete 1 block?" in confirm.content.decode()
    block.refresh_from_db()
    assert block.deleted_at is None
    done = client.post(BLOCKS, {"action": "soft_delete_selected", "_selected_action": [block.pk], "post": "yes",
                                "reason": "duplicate of journey"})
    assert done.status_code == 302
    block.refresh_from_db()
    assert block.deleted_at is not None and block.version == 2
    row = history(block)[-1]
    assert row.actor == "staff:rita" and row.history_change_reason == "duplicate of journey"


def test_list_query_count_does_not_grow_with_the_number_of_blocks(client, django_assert_max_num_queries):
    def count_queries():
        client.get(BLOCKS)
        with django_assert_max_num_queries(8) as captured:
            assert client.get(BLOCKS).status_code == 200
        return len(captured)

    for i in range(3):
        make_block(owner_id=f"learner-{i}", label="student", content="x" * 100)
    small = count_queries()
    for i in range(3, 30):
        make_block(owner_id=f"learner-{i}", label="student", content="x" * 100)
    assert count_queries() == small


# --- the block page and editing ----------------------------------------------------------------


def test_change_page_is_view_only_with_service_backed_tools(client, block):
    response = client.get(url("change", block))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in page and "<textarea" not in page
    assert "Edit content" in page and "Compare versions" in page and "Soft-delete" in page
    assert "Goal: write about the bakery" in page
    # A hand-made POST to the generic form changes nothing.
    assert client.post(url("change", block), {"content": "hacked"}).status_code == 403
    block.refresh_from_db()
    assert block.content == STUDENT and block.version == 1
    assert client.get(reverse("admin:blocks_block_add")).status_code == 403
    assert client.get(url("delete", block)).status_code == 403


def test_edit_content_makes_a_new_version_by_the_staff_member(client, block):
    page = client.get(url("edit_content", block))
    assert page.status_code == 200 and page.context["form"].initial["version"] == 1
    response = client.post(url("edit_content", block), {
        "content": "# Student\r\nName: Maya T.\r\nGoal: write about the bakery\r\n",  # browser line endings
        "reason": "fixed her name",
        "version": 1,
    })
    assert response.status_code == 302
    block.refresh_from_db()
    assert block.content == "# Student\nName: Maya T.\nGoal: write about the bakery\n" and block.version == 2
    row = history(block)[-1]
    assert (row.actor, row.history_change_reason, row.history_user.username) == ("staff:rita", "fixed her name", "rita")


def test_edit_content_refuses_stale_versions_and_the_char_limit(client, block, staff_user):
    with_versions(block, staff_user, 2)  # someone approved a diff meanwhile: block is at v2
    stale = client.post(url("edit_content", block), {"content": "mine", "reason": "", "version": 1})
    assert stale.status_code == 200 and "changed while you were editing" in stale.content.decode()
    too_long = client.post(url("edit_content", block), {"content": "x" * 201, "reason": "", "version": 2})
    assert too_long.status_code == 200 and "limit is 200" in too_long.content.decode()
    block.refresh_from_db()
    assert block.version == 2 and len(history(block)) == 2


# --- settings ----------------------------------------------------------------------------------


def test_block_page_shows_metadata_as_keys_and_values(client):
    block = make_block(owner_id="maya", label="student", content="x",
                       metadata={"course_id": "college-essay", "letta": {"block_id": "block-1", "limit": 5000},
                                 "schema_version": 2, "empty": None})
    page = client.get(url("change", block)).content.decode()
    table = page.split('<dl class="staff-kv staff-metadata">')[1].split("</dl>")[0]
    assert "<dt>course_id</dt><dd>college-essay</dd>" in table
    assert "<dt>schema_version</dt><dd><code>2</code></dd>" in table
    assert "<dt>empty</dt><dd><code>null</code></dd>" in table
    assert "<dt>letta</dt><dd><pre>{\n  &quot;block_id&quot;: &quot;block-1&quot;," in table


def test_settings_page_changes_limit_flag_description_and_metadata_as_one_version(client, block):
    settings = url("settings", block)
    form = client.get(settings)
    assert form.status_code == 200
    assert form.context["form"].initial["char_limit"] == 200 and url("settings", block) in client.get(url("change", block)).content.decode()

    response = client.post(settings, {
        "description": "What we know\r\nabout her", "char_limit": "400", "read_only": "on",
        "metadata": '{"course_id": "college-essay"}', "reason": "longer essays now", "version": "1",
    })
    assert response.status_code == 302 and response["Location"] == url("change", block)
    block.refresh_from_db()
    assert (block.version, block.char_limit, block.read_only, block.content) == (2, 400, True, STUDENT)
    assert block.metadata == {"course_id": "college-essay"} and block.description == "What we know\nabout her"
    row = history(block)[-1]
    assert row.actor == "staff:rita" and row.history_change_reason == (
        "Settings: description, char_limit 200 → 400, read_only off → on, metadata: longer essays now")
    assert any("now version 2" in text for _, text in messages_of(response))

    # The same form again changes nothing.
    again = client.post(settings, {"description": "What we know\nabout her", "char_limit": "400", "read_only": "on",
                                   "metadata": '{"course_id": "college-essay"}', "version": "2"})
    assert ("info", "Nothing changed.") in messages_of(again) and Block.objects.get(pk=block.pk).version == 2


@pytest.mark.parametrize("data,field,message", [
    ({"char_limit": "10"}, "char_limit", "below that"),
    ({"char_limit": "0"}, "char_limit", "greater than or equal to 1"),
    ({"metadata": "[1, 2]"}, "metadata", "JSON object"),
    ({"metadata": "{nope"}, "metadata", "valid JSON"),
    ({"metadata": "[" * 100_000 + "]" * 100_000}, "metadata", "nested too deeply"),
    ({"metadata": '{"a":' * 40 + "1" + "}" * 40}, "metadata", "nested at most 32 deep"),
    ({"version": "9"}, None, "changed while you were editing"),
])
def test_settings_page_refuses_what_the_service_refuses_and_keeps_the_input(client, block, data, field, message):
    post = {"description": "", "char_limit": "200", "metadata": "{}", "version": "1", **data}
    response = client.post(url("settings", block), post)
    assert response.status_code == 200
    errors = response.context["form"].errors.get(field or "__all__")
    assert errors and message in " ".join(errors), response.context["form"].errors
    assert Block.objects.get(pk=block.pk).version == 1


# --- history, compare, revert ------------------------------------------------------------------


def test_history_lists_actor_reason_date_and_diff_links(client, block, staff_user):
    diff = propose(block, "append", text="Likes chess")
    services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user))
    response = client.get(url("history", block))
    page = response.content.decode()
    assert response.status_code == 200
    assert "staff:rita" in page and f"Diff {diff.pk} (append) approved by rita" in page
    assert reverse("admin:diffs_pendingdiff_change", args=[diff.pk]) in page
    assert 'name="a" value="1"' in page and 'name="b" value="2"' in page
    assert url("revert", block, 1) in page and url("revert", block, 2) not in page  # not to the current
    assert "content</strong>: 46 chars" in page or "content</strong>:" in page


def test_compare_shows_any_two_versions_side_by_side(client, block, staff_user):
    with_versions(block, staff_user, 3)
    response = client.get(url("compare", block), {"a": 1, "b": 3})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Version 1 (A)" in page and "Version 3 (B)" in page
    assert "<ins>fact 2</ins>" in page or "fact 2" in page
    assert {row.kind for row in response.context["rows"]} >= {"insert"}
    default = client.get(url("compare", block))  # previous vs current
    assert (default.context["a"], default.context["b"]) == (2, 3)
    missing = client.get(url("compare", block), {"a": 9, "b": 3})
    assert missing.status_code == 200 and any("No version 9" in t for _, t in messages_of(missing))


def test_revert_through_the_admin_makes_a_new_version(client, block, staff_user):
    with_versions(block, staff_user, 3)
    confirm = client.get(url("revert", block, 1))
    assert confirm.status_code == 200 and "Revert to version 1" in confirm.content.decode()
    block.refresh_from_db()
    assert block.version == 3

    response = client.post(url("revert", block, 1), {"reason": "agent went off track"})
    assert response.status_code == 302
    block.refresh_from_db()
    assert block.content == STUDENT and block.version == 4
    row = history(block)[-1]
    assert (row.version, row.actor, row.history_change_reason) == (4, "staff:rita", "Revert to v1 by rita: agent went off track")
    assert ("success", "Reverted maya/student to version 1: now version 4.") in messages_of(response)

    nothing = client.post(url("revert", block, 4), {"reason": ""})
    assert any(level == "error" for level, _ in messages_of(nothing))
    block.refresh_from_db()
    assert block.version == 4


def test_simple_historys_own_revert_never_saves(client, block, staff_user):
    with_versions(block, staff_user, 2)
    first = history(block)[0]
    form_url = reverse("admin:blocks_block_simple_history", args=[block.pk, first.history_id])
    assert client.post(form_url, {"content": "old"}).status_code == 405
    response = client.get(form_url)
    assert response.status_code == 302 and response["Location"].endswith("/compare/?a=1")
    block.refresh_from_db()
    assert block.version == 2


def test_soft_delete_and_restore_pages(client, block):
    assert client.get(url("soft_delete", block)).status_code == 200
    client.post(url("soft_delete", block), {"reason": ""})
    block.refresh_from_db()
    assert block.deleted_at is not None and block.version == 2
    page = client.get(url("change", block)).content.decode()
    assert "soft-deleted" in page and "Restore" in page
    # Editing a deleted block is refused until it is restored.
    assert client.post(url("edit_content", block), {"content": "x", "version": 2}).status_code == 302
    client.post(url("restore", block), {"reason": "still needed"})
    block.refresh_from_db()
    assert block.deleted_at is None and block.version == 3
    assert [r.history_change_reason for r in history(block)][1:] == ["Deleted in the admin by rita", "still needed"]


def test_history_page_query_count_does_not_grow_with_versions(client, staff_user, django_assert_max_num_queries):
    def count_queries(block):
        client.get(url("history", block))
        with django_assert_max_num_queries(8) as captured:
            assert client.get(url("history", block)).status_code == 200
        return len(captured)

    small = with_versions(make_block(owner_id="maya", label="a", content="start"), staff_user, 3)
    large = with_versions(make_block(owner_id="maya", label="b", content="start"), staff_user, 30)
    assert len(history(large)) == 30
    assert count_queries(small) == count_queries(large)


def test_compare_page_query_count_does_not_grow_with_versions(client, staff_user, django_assert_max_num_queries):
    def count_queries(block):
        client.get(url("compare", block))
        with django_assert_max_num_queries(8) as captured:
            assert client.get(url("compare", block), {"a": 1, "b": 3}).status_code == 200
        return len(captured)

    small = with_versions(make_block(owner_id="maya", label="a", content="start"), staff_user, 3)
    large = with_versions(make_block(owner_id="maya", label="b", content="start"), staff_user, 30)
    assert count_queries(small) == count_queries(large)


def test_writes_need_change_permission(block, django_user_model):
    viewer = django_user_model.objects.create_user("vera", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_block"))
    client = Client()
    client.force_login(viewer)
    assert client.get(url("change", block)).status_code == 200
    assert client.get(url("history", block)).status_code == 200
    assert client.get(url("edit_content", block)).status_code == 403
    assert client.post(url("revert", block, 1)).status_code == 403
    assert client.post(url("soft_delete", block)).status_code == 403
    assert Block.objects.get(pk=block.pk).version == 1


def test_block_list_sql_stays_on_indexes(client, block):
    """Capped count, no content column, ORDER BY the unique (owner_type, owner_id, label) index."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(BLOCKS)
    sql = [q["sql"] for q in captured.captured_queries if "FROM `blocks`" in q["sql"]]
    counts = [s for s in sql if "COUNT(" in s]
    assert counts and all("LIMIT 10001" in s for s in counts)
    page = next(s for s in sql if "COUNT(" not in s)
    assert "`blocks`.`content`," not in page  # only CHAR_LENGTH(content)
    order = page.split("ORDER BY ")[1]
    assert order.startswith("`blocks`.`owner_type` ASC, `blocks`.`owner_id` ASC, `blocks`.`label` ASC")
    assert "`blocks`.`id`" not in order
