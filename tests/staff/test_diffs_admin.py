"""The review queue and the review page, through Django's test client on Dolt."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from blocks import services as block_services
from blocks.models import Block, HistoricalBlock
from diffs import services
from diffs.rendering import MAX_ROWS
from diffs.models import DiffStatus, PendingDiff
from learners import services as learner_services
from tests.factories import make_block, propose
from youlab.actors import Actor

pytestmark = pytest.mark.django_db

STUDENT = "# Student\nName: Maya\nGoal: write about the bakery\n"
QUEUE = reverse("admin:diffs_pendingdiff_changelist")


@pytest.fixture
def client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def block():
    return make_block(owner_id="maya", label="student", content=STUDENT, char_limit=200)


def review_url(diff):
    return reverse("admin:diffs_pendingdiff_change", args=[diff.pk])


def listed(response):
    return {d.pk for d in response.context["cl"].result_list}


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def refreshed(obj):
    obj.refresh_from_db()
    return obj


# --- the queue ---------------------------------------------------------------------------------


def test_admin_home_is_the_review_queue(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"] == QUEUE
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert b"YouLab staff" in page.content and b"Review queue" in page.content


def test_queue_shows_pending_by_default_with_counts_per_status(client, block, staff_user):
    pending = [propose(block, "append", text=f"fact {i}") for i in range(3)]
    approved = propose(block, "append", text="approved one")
    services.approve_diff(diff_id=approved.pk, by=Actor.staff(staff_user))
    rejected = propose(block, "append", text="rejected one")
    services.reject_diff(diff_id=rejected.pk, by=Actor.staff(staff_user), reason="no")

    response = client.get(QUEUE)
    assert listed(response) == {d.pk for d in pending}
    counts = {tab["status"]: tab["count"] for tab in response.context["status_tabs"]}
    assert counts == {"pending": 3, "conflict": 0, "approved": 1, "rejected": 1, "superseded": 0}
    assert b'data-status="pending">3<' in response.content

    assert listed(client.get(QUEUE, {"status": "all"})) == {d.pk for d in [*pending, approved, rejected]}
    assert listed(client.get(QUEUE, {"status": "approved"})) == {approved.pk}
    assert listed(client.get(QUEUE, {"status": "rejected"})) == {rejected.pk}


def test_queue_filters_by_label_learner_agent_age_and_search(client, block):
    journey = make_block(owner_id="maya", label="journey", content="week 1\n")
    other = make_block(owner_id="sofia", label="student", content=STUDENT)
    by_tutor = propose(block, "append", text="likes chess", agent="tutor", reasoning="said so twice")
    by_background = propose(journey, "append", text="week 2", agent="background")
    sofia = propose(other, "append", text="plays violin", agent="tutor")
    PendingDiff.objects.filter(pk=sofia.pk).update(created_at=timezone.now() - timedelta(days=9))
    PendingDiff.objects.filter(pk=by_background.pk).update(created_at=timezone.now() - timedelta(hours=3))

    assert listed(client.get(QUEUE, {"label": "student"})) == {by_tutor.pk, sofia.pk}
    assert listed(client.get(QUEUE, {"learner": "maya"})) == {by_tutor.pk, by_background.pk}
    assert listed(client.get(QUEUE, {"agent": "background"})) == {by_background.pk}
    assert listed(client.get(QUEUE, {"age": "1h"})) == {by_tutor.pk}
    assert listed(client.get(QUEUE, {"age": "24h"})) == {by_tutor.pk, by_background.pk}
    assert listed(client.get(QUEUE, {"age": "7d"})) == {by_tutor.pk, by_background.pk}
    assert listed(client.get(QUEUE, {"age": "older"})) == {sofia.pk}
    assert listed(client.get(QUEUE, {"q": "sofia"})) == {sofia.pk}  # exact learner id
    assert listed(client.get(QUEUE, {"q": "TWICE"})) == {by_tutor.pk}  # reasoning, any case
    assert listed(client.get(QUEUE, {"q": "JOURN"})) == {by_background.pk}  # label (binary column), any case
    assert listed(client.get(QUEUE, {"q": "said twice"})) == {by_tutor.pk}  # every word must match
    assert listed(client.get(QUEUE, {"q": "Maya"})) == set()  # learner ids are exact
    assert listed(client.get(QUEUE, {"label": "student", "learner": "maya", "agent": "tutor"})) == {by_tutor.pk}
    # The learner box keeps the other filters it is combined with.
    page = client.get(QUEUE, {"label": "student"}).content.decode()
    assert '<input type="hidden" name="label" value="student">' in page


def test_queue_lists_the_oldest_pending_proposal_first_and_stays_sortable(client, block):
    diffs = [propose(block, "append", text=f"fact {i}") for i in range(3)]
    for age, diff in zip((5, 300, 40), diffs):
        PendingDiff.objects.filter(pk=diff.pk).update(created_at=timezone.now() - timedelta(days=age))
    oldest_first = [diffs[1].pk, diffs[2].pk, diffs[0].pk]
    assert [d.pk for d in client.get(QUEUE).context["cl"].result_list] == oldest_first
    assert [d.pk for d in client.get(QUEUE, {"o": "-1"}).context["cl"].result_list] == oldest_first[::-1]


def test_queue_shows_learners_names_and_finds_them_by_name(client, block):
    sofia_block = make_block(owner_id="3f6c-sofia", label="student", content=STUDENT)
    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.agent("tutor"))
    learner_services.set_learner_profile(user_id="3f6c-sofia", display_name="Sofía Ramírez-Núñez", by=Actor.system())
    maya_diff = propose(block, "append", text="likes chess", reasoning="mentions Sofía's essay")
    sofia_diff = propose(sofia_block, "append", text="plays cello")

    page = client.get(QUEUE).content.decode()
    assert "Maya Thompson" in page and "Sofía Ramírez-Núñez" in page
    assert f'href="{reverse("staff:learner", args=["maya"])}" class="staff-learner">Maya Thompson</a>' in page

    assert listed(client.get(QUEUE, {"q": "Maya"})) == {maya_diff.pk}
    assert listed(client.get(QUEUE, {"q": "thomp"})) == {maya_diff.pk}
    assert listed(client.get(QUEUE, {"q": "sofia"})) == {sofia_diff.pk}  # a name: accents ignored
    assert listed(client.get(QUEUE, {"q": "ramirez nunez"})) == {sofia_diff.pk}
    assert listed(client.get(QUEUE, {"q": "3f6c-sofia"})) == {sofia_diff.pk}  # the exact id still works
    assert listed(client.get(QUEUE, {"q": "chess"})) == set()  # proposed text is not searched
    assert listed(client.get(QUEUE, {"q": "essay"})) == {maya_diff.pk}  # reasoning still is


def test_queue_marks_stale_and_conflict(client, block, staff_user):
    first = propose(block, "str_replace", old_str="bakery", new_str="bike shop")
    stale = propose(block, "append", text="likes chess")
    doomed = propose(block, "str_replace", old_str="bakery", new_str="library")
    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    services.approve_diff(diff_id=doomed.pk, by=Actor.staff(staff_user))  # its anchor is gone: conflict

    page = client.get(QUEUE).content.decode()
    assert "stale" in page and "now v2" in page
    conflicts = client.get(QUEUE, {"status": "conflict"})
    assert listed(conflicts) == {doomed.pk}
    assert "old_str does not occur" in conflicts.content.decode()
    assert stale.pk in listed(client.get(QUEUE))


def test_queue_query_count_does_not_grow_with_the_number_of_diffs(
    client, block, django_assert_max_num_queries
):
    def count_queries(params):
        client.get(QUEUE, params)  # warm caches (content types, session) first
        # 15: a page is always read by id first, then its rows (one page or many alike); a name
        # search adds one query per word of the query (at most four words are used).
        with django_assert_max_num_queries(15 + len(params.get("q", "").split())) as captured:
            assert client.get(QUEUE, params).status_code == 200
        return len(captured)

    views = ({}, {"status": "all"}, {"learner": "maya", "label": "student"}, {"q": "maya thompson"})
    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.system())
    for i in range(3):
        propose(block, "append", text=f"fact {i}", agent=f"agent-{i}")
    small = [count_queries(params) for params in views]
    for i in range(3, 30):
        learner_id = f"learner-{i}"
        learner_services.set_learner_profile(user_id=learner_id, display_name=f"Maya {i}", by=Actor.system())
        propose(make_block(owner_id=learner_id, label="student"), "append", text="x", agent=f"agent-{i}")
        propose(block, "append", text=f"fact {i}", agent=f"agent-{i}")  # more than one page now
    large = [count_queries(params) for params in views]
    assert small == large


# --- the review page ---------------------------------------------------------------------------


def test_review_page_shows_the_side_by_side_diff_and_the_proposal(client, block):
    diff = propose(block, "str_replace", old_str="the bakery", new_str="her grandmother's bakery",
                   reasoning="She <b>said</b> so.")
    response = client.get(review_url(diff))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<del>the</del>" in page or "<del>the bakery</del>" in page or "<ins>her grandmother&#x27;s</ins>" in page
    assert "<ins>" in page and "grandmother" in page
    assert "Current (version 1)" in page
    assert "She &lt;b&gt;said&lt;/b&gt; so." in page  # reasoning escaped
    assert "str_replace" in page and "&quot;old_str&quot;: &quot;the bakery&quot;" in page
    assert 'value="approve"' in page and 'value="edit"' in page and 'value="reject"' in page
    # Edit & approve starts from the proposed text.
    assert response.context["forms"]["edit"].initial["edited_content"] == diff.proposed_content


def test_review_page_lists_the_other_open_proposals_on_the_same_block(client, block, staff_user):
    first = propose(block, "str_replace", old_str="bakery", new_str="bike shop", agent="tutor")
    second = propose(block, "append", text="Likes chess", agent="background", reasoning="said it twice")
    decided = propose(block, "append", text="Likes go")
    services.reject_diff(diff_id=decided.pk, by=Actor.staff(staff_user), reason="no")
    elsewhere = propose(make_block(owner_id="maya", label="journey", content="x"), "append", text="y")

    response = client.get(review_url(first))
    assert [d.pk for d in response.context["others"]] == [second.pk]
    section = response.content.decode().split('id="other-proposals"')[1].split("</section>")[0]
    assert review_url(second) in section and "said it twice" in section and "v1" in section
    assert review_url(decided) not in section and review_url(elsewhere) not in section

    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    section = client.get(review_url(second)).content.decode()
    assert 'id="other-proposals"' not in section  # the only other one is decided now


def test_review_page_links_the_neighbours_in_the_queue_and_documents_the_shortcuts(client, block):
    diffs = [propose(block, "append", text=f"fact {i}") for i in range(3)]
    for age, diff in zip((30, 20, 10), diffs):
        PendingDiff.objects.filter(pk=diff.pk).update(created_at=timezone.now() - timedelta(minutes=age))
    response = client.get(review_url(diffs[1]))
    assert response.context["neighbours"] == {"previous": review_url(diffs[0]), "next": review_url(diffs[2])}
    page = response.content.decode()
    assert 'id="next-pending"' in page and 'id="previous-pending"' in page
    assert "Keyboard shortcuts" in page and "<kbd>a</kbd>" in page and "review-keys.js" in page
    first = client.get(review_url(diffs[0])).context["neighbours"]
    assert first == {"previous": "", "next": review_url(diffs[1])}


def test_a_rejected_diff_shows_the_reason_for_rejecting(client, block, staff_user):
    diff = propose(block, "append", text="Dislikes poetry")
    services.reject_diff(diff_id=diff.pk, by=Actor.staff(staff_user), reason="She loves poetry.")
    page = client.get(review_url(diff)).content.decode()
    assert "Reason for rejecting</dt><dd class=\"staff-review-note\">She loves poetry.</dd>" in page


def test_review_page_warns_when_stale_and_previews_the_rebase(client, block, staff_user):
    first = propose(block, "str_replace", old_str="Name: Maya", new_str="Name: Maya T.")
    later = propose(block, "append", text="Likes chess")
    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))

    response = client.get(review_url(later))
    page = response.content.decode()
    assert "Stale:" in page and "version 1" in page and "now at version 2" in page
    preview = response.context["preview"]
    assert preview.stale and preview.effective_content == "# Student\nName: Maya T.\nGoal: write about the bakery\nLikes chess"


def test_review_page_says_when_approving_would_conflict(client, block, staff_user):
    first = propose(block, "str_replace", old_str="bakery", new_str="bike shop")
    doomed = propose(block, "str_replace", old_str="bakery", new_str="library")
    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    page = client.get(review_url(doomed)).content.decode()
    assert "Approving will not apply this edit" in page and "old_str does not occur" in page


def test_approve_on_the_page_applies_the_diff(client, block):
    diff = propose(block, "append", text="Likes chess")
    response = client.post(review_url(diff), {"_action": "approve", "approve-note": "thanks"})
    assert response.status_code == 302 and response["Location"].startswith(QUEUE)
    assert ("success", "maya · student: approved: applied as proposed, now version 2") in messages_of(response)
    assert refreshed(block).content == STUDENT + "Likes chess" and block.version == 2
    diff = refreshed(diff)
    assert diff.status == DiffStatus.APPROVED and diff.review_note == "thanks" and diff.applied_version == 2
    row = HistoricalBlock.objects.get(id=block.pk, version=2)
    assert row.actor == "staff:rita" and row.diff_id == diff.pk


def test_edit_and_approve_writes_the_reviewers_text_with_the_blocks_line_endings(client, block):
    diff = propose(block, "append", text="Likes chess")
    edited = "# Student\r\nName: Maya\r\nGoal: write about the bakery\r\nLikes chess and go"  # as browsers send it
    response = client.post(review_url(diff), {"_action": "edit", "edit-edited_content": edited, "edit-note": ""})
    assert response.status_code == 302
    assert refreshed(block).content == "# Student\nName: Maya\nGoal: write about the bakery\nLikes chess and go"
    row = HistoricalBlock.objects.get(id=block.pk, version=2)
    assert "edited and approved by rita" in row.history_change_reason


def test_edit_and_approve_over_the_char_limit_is_an_error_and_writes_nothing(client, block):
    diff = propose(block, "append", text="Likes chess")
    response = client.post(review_url(diff), {"_action": "edit", "edit-edited_content": "x" * 201})
    assert response.status_code == 200  # the page again, with the reviewer's text kept
    assert any(level == "error" and "limit is 200" in text for level, text in messages_of(response))
    assert response.context["forms"]["edit"]["edited_content"].value() == "x" * 201
    assert refreshed(diff).status == DiffStatus.PENDING
    assert refreshed(block).version == 1 and HistoricalBlock.objects.filter(id=block.pk).count() == 1


def test_reject_needs_a_reason_and_keeps_the_content(client, block):
    diff = propose(block, "append", text="Likes chess")
    response = client.post(review_url(diff), {"_action": "reject", "reject-reason": "   "})
    assert response.status_code == 200 and refreshed(diff).status == DiffStatus.PENDING
    assert "A reason is required" in response.content.decode()

    response = client.post(review_url(diff), {"_action": "reject", "reject-reason": "Not what she said."})
    assert response.status_code == 302
    assert ("success", "maya · student: rejected") in messages_of(response)
    diff = refreshed(diff)
    assert diff.status == DiffStatus.REJECTED and diff.review_note == "Not what she said."
    assert refreshed(block).content == STUDENT and block.version == 1


def test_approving_into_a_conflict_is_reported_and_leaves_the_block(client, block, staff_user):
    first = propose(block, "str_replace", old_str="bakery", new_str="bike shop")
    doomed = propose(block, "str_replace", old_str="bakery", new_str="library")
    services.approve_diff(diff_id=first.pk, by=Actor.staff(staff_user))
    response = client.post(review_url(doomed), {"_action": "approve"})
    assert response.status_code == 302 and response["Location"] == review_url(doomed)
    assert any(level == "warning" and "conflict" in text for level, text in messages_of(response))
    assert refreshed(doomed).status == DiffStatus.CONFLICT and refreshed(block).version == 2


def test_a_decided_diff_shows_the_decision_read_only(client, block, staff_user):
    diff = propose(block, "append", text="Likes chess")
    services.approve_diff(diff_id=diff.pk, by=Actor.staff(staff_user), note="good catch")
    response = client.get(review_url(diff))
    page = response.content.decode()
    assert "Decision" in page and "rita" in page and "good catch" in page and "version 2" in page
    assert 'value="approve"' not in page and not response.context["can_decide"]
    assert response.context["preview"].right == STUDENT + "Likes chess"  # what was applied
    again = client.post(review_url(diff), {"_action": "reject", "reject-reason": "too late"})
    assert any("only pending diffs can be decided" in text for _, text in messages_of(again))
    assert refreshed(diff).status == DiffStatus.APPROVED


def test_review_posts_need_the_csrf_token(staff_user, block):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    diff = propose(block, "append", text="Likes chess")
    assert client.post(review_url(diff), {"_action": "approve"}).status_code == 403
    assert refreshed(diff).status == DiffStatus.PENDING


def _punctuation(size: int, width: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    marks = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    line_count = size // (width + 1)
    return "".join("".join(rng.choice(marks) for _ in range(width)) + "\n" for _ in range(line_count))


def test_a_1_mb_all_punctuation_rethink_renders_with_whole_span_marks_past_the_page_budget(client):
    """Every line pair of two 1 MB punctuation texts is worth comparing on its own (under the
    per-line budget); together they took 5.7 s. The page budget compares the first pairs (are
    they similar enough to word-diff? then word by word) and, once spent, pairs the rest in order
    with their changed spans marked whole (diffs.rendering.MAX_PAGE_WORK)."""
    old, new = _punctuation(1_000_000, 400, 1), _punctuation(1_000_000, 400, 2)
    block = make_block(owner_id="maya", label="scratch", content=old)
    diff = propose(block, "rethink", content=new)
    response = client.get(review_url(diff))
    assert response.status_code == 200
    preview = response.context["preview"]
    rows = preview.rows
    assert len(rows) == MAX_ROWS + 1 and rows[-1].kind == "truncated"  # the page stops and says so
    coarse = [i for i, row in enumerate(rows) if row.coarse]
    assert coarse and coarse == list(range(coarse[0], MAX_ROWS))  # once spent, every later pair
    assert coarse[0] > 0  # the first lines were judged within the budget
    assert all(row.kind == "replace" and row.right_html.count("<ins>") == 1 for row in rows[coarse[0]:MAX_ROWS])
    page = response.content.decode()
    assert f"{preview.coarse_lines} changed lines are too long to compare word by word" in page
    last = rows[-1]
    assert f"{last.skipped} more rows not shown (from line {last.left_no} / {last.right_no})" in page
    assert last.left_no + last.skipped - 1 == 2493  # up to the last line of each side


def test_review_page_query_count_does_not_grow_with_history(client, block, staff_user, django_assert_max_num_queries):
    def count_queries(diff):
        client.get(review_url(diff))
        # +4 since the learner's name, the other open proposals and the two queue neighbours
        with django_assert_max_num_queries(12) as captured:
            assert client.get(review_url(diff)).status_code == 200
        return len(captured)

    for i in range(2):
        services.approve_diff(diff_id=propose(block, "append", text=f"v{i}").pk, by=Actor.staff(staff_user))
    small = count_queries(propose(block, "append", text="small"))
    for i in range(27):
        services.approve_diff(diff_id=propose(block, "rethink", content=f"version {i}").pk, by=Actor.staff(staff_user))
    assert HistoricalBlock.objects.filter(id=block.pk).count() == 30
    assert count_queries(propose(block, "append", text="large")) == small


def test_unknown_diff_redirects_with_a_message(client):
    response = client.get(reverse("admin:diffs_pendingdiff_change", args=["00000000-0000-4000-8000-000000000000"]))
    assert response.status_code == 302


# --- bulk actions ------------------------------------------------------------------------------


def _bulk(client, action, diffs, **extra):
    data = {"action": action, "_selected_action": [str(d.pk) for d in diffs], "index": "0", **extra}
    return client.post(QUEUE, data)


def test_bulk_approve_reports_per_diff_what_happened(client, block):
    bike = propose(block, "str_replace", old_str="bakery", new_str="bike shop", reasoning="first")
    library = propose(block, "str_replace", old_str="bakery", new_str="library", reasoning="second")
    chess = propose(block, "append", text="Likes chess", reasoning="third")

    response = _bulk(client, "approve_selected", [bike, library, chess])
    assert response.status_code == 302
    reported = messages_of(response)
    assert reported[0] == ("info", "3 diff(s): 2 approved (1 applied as proposed, 1 rebased), 1 conflict.")
    # The rebased ones are grouped so the reviewer can check them.
    assert reported[1][0] == "warning" and reported[1][1].startswith("Rebased onto a newer version")
    assert f'href="{review_url(chess)}"' in reported[1][1] and "rebased onto v2 (proposed against v1)" in reported[1][1]
    assert review_url(bike) not in reported[1][1]
    texts = reported[2:]
    assert [level for level, _ in texts] == ["success", "warning", "success"]  # oldest first
    assert texts[0][1].endswith("approved: applied as proposed, now version 2")
    assert f'href="{review_url(library)}"' in texts[1][1] and "conflict:" in texts[1][1]
    assert texts[2][1].endswith("approved: rebased onto v2 (proposed against v1), now version 3")
    assert refreshed(bike).status == DiffStatus.APPROVED and refreshed(chess).status == DiffStatus.APPROVED
    assert refreshed(library).status == DiffStatus.CONFLICT
    assert refreshed(block).version == 3 and "bike shop" in block.content and block.content.endswith("Likes chess")


def test_bulk_approve_of_two_competing_str_replaces_says_which_was_rebased(client, block):
    """The issue's case: both stale, both still apply; the second is rebased onto the first."""
    first = propose(block, "str_replace", old_str="Name: Maya", new_str="Name: Maya Thompson")
    second = propose(block, "str_replace", old_str="the bakery", new_str="her grandmother's bakery")
    block_services.update_block_content(block=block, content=STUDENT + "Grade: 11\n", by=Actor("staff", "rita"), reason="x",
                                        dolt_commit=False)
    reported = messages_of(_bulk(client, "approve_selected", [second, first]))
    assert reported[0] == ("info", "2 diff(s): 2 approved (0 applied as proposed, 2 rebased).")
    assert "rebased onto v2 (proposed against v1)" in reported[1][1]
    assert "rebased onto v3 (proposed against v1)" in reported[1][1]
    assert refreshed(block).version == 4


def test_bulk_approve_only_on_the_base_version_skips_the_stale_ones(client, block):
    bike = propose(block, "str_replace", old_str="bakery", new_str="bike shop")
    chess = propose(block, "append", text="Likes chess")
    other = make_block(owner_id="sofia", label="student", content=STUDENT)
    cello = propose(other, "append", text="Plays cello")

    reported = messages_of(_bulk(client, "approve_selected_on_base", [bike, chess, cello]))
    assert reported[0] == ("info", "3 diff(s): 2 approved (2 applied as proposed, 0 rebased), 1 skipped.")
    assert any(level == "warning" and "not approved: the block moved on from version 1 (now at version 2)" in text
               for level, text in reported)
    assert refreshed(chess).status == DiffStatus.PENDING  # left for a reviewer to look at
    assert refreshed(bike).status == DiffStatus.APPROVED and refreshed(cello).status == DiffStatus.APPROVED
    assert refreshed(block).version == 2


def test_bulk_reject_asks_for_a_reason_first(client, block, staff_user):
    learner_services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor.system())
    one = propose(block, "append", text="one")
    two = propose(block, "append", text="two")
    done = propose(block, "append", text="done")
    services.approve_diff(diff_id=done.pk, by=Actor.staff(staff_user))

    confirm = _bulk(client, "reject_selected", [one, two, done])
    assert confirm.status_code == 200
    assert "admin/diffs/pendingdiff/reject_selected.html" in [t.name for t in confirm.templates]
    assert 'name="reject-reason"' in confirm.content.decode()
    assert "Maya Thompson (maya) · student" in confirm.content.decode()  # the learner's name
    assert refreshed(one).status == DiffStatus.PENDING

    blank = client.post(QUEUE, {"action": "reject_selected", "_selected_action": [one.pk, two.pk], "post": "yes",
                                "reject-reason": ""})
    assert blank.status_code == 200 and refreshed(one).status == DiffStatus.PENDING

    # From the "all" tab (actions work on what the list shows), so the decided one is selectable.
    response = client.post(f"{QUEUE}?status=all", {
        "action": "reject_selected", "_selected_action": [one.pk, two.pk, done.pk],
        "post": "yes", "reject-reason": "Duplicates.",
    })
    assert response.status_code == 302
    reported = messages_of(response)
    assert reported[0] == ("info", "3 diff(s): 2 rejected, 1 skipped.")
    for diff in (one, two):
        diff = refreshed(diff)
        assert diff.status == DiffStatus.REJECTED and diff.review_note == "Duplicates."
    assert refreshed(done).status == DiffStatus.APPROVED
    assert Block.objects.get(pk=block.pk).version == 2


def test_no_add_or_delete_of_diffs_in_the_admin(client, block):
    diff = propose(block, "append", text="x")
    assert client.get(reverse("admin:diffs_pendingdiff_add")).status_code == 403
    assert client.get(reverse("admin:diffs_pendingdiff_delete", args=[diff.pk])).status_code == 403
    actions = dict(client.get(QUEUE).context["action_form"].fields["action"].choices)
    assert set(actions) == {"", "approve_selected", "approve_selected_on_base", "reject_selected"}


def test_create_proposals_are_reviewed_and_approved_on_the_page(client, staff_user):
    diff, _ = services.propose_diff(owner_id="maya", label="reading-list", operation="create",
                                    arguments={"content": "- Salt, Fat, Acid, Heat\n", "char_limit": 500},
                                    by=Actor.agent("tutor"))
    page = client.get(review_url(diff))
    assert page.status_code == 200 and "No block yet" in page.content.decode()
    client.post(review_url(diff), {"_action": "approve"})
    created = Block.objects.get(owner_id="maya", label="reading-list")
    assert created.content == "- Salt, Fat, Acid, Heat\n" and created.char_limit == 500
    assert refreshed(diff).status == DiffStatus.APPROVED


def test_queue_sql_stays_on_indexes(client, block):
    """The shapes that keep the queue fast at 100k rows on Dolt (see staff/adminkit.py):
    capped counts, no JOIN, ORDER BY exactly the (status, created_at) index, no pk tie-breaker."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    propose(block, "append", text="x")
    with CaptureQueriesContext(connection) as captured:
        client.get(QUEUE)
    sql = [q["sql"] for q in captured.captured_queries if "`pending_diffs`" in q["sql"]]
    assert sql and all("JOIN" not in s for s in sql)
    counts = [s for s in sql if "COUNT(" in s]
    assert counts and all("LIMIT 10001" in s for s in counts)
    page = next(s for s in sql if "COUNT(" not in s and "ORDER BY" in s)
    order = page.split("ORDER BY ")[1]
    assert order.startswith("`pending_diffs`.`status` ASC, `pending_diffs`.`created_at` ASC")  # oldest first
    assert "`pending_diffs`.`id`" not in order
    assert "`pending_diffs`.`proposed_content`" not in page  # full texts stay out of the list
