"""The staff product for many learners, in a real browser (issue 14): find a learner's proposals
by name, review the oldest first with the other open proposals on the block beside it and the
keyboard shortcuts, bulk approve competing proposals and read which were rebased, change a
block's settings, and read a learner's memory as of a past date.

Playwright drives Debian's Chromium (see test_review_flow.py); a screenshot of each flow goes to
test-artifacts/. The ORM is used only before and after the browser session.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from blocks import services as block_services
from blocks.models import Block, HistoricalBlock
from diffs.models import DiffStatus, PendingDiff
from learners import services as learner_services
from tests.factories import make_block, propose
from youlab import dolt
from youlab.actors import Actor

from .test_review_flow import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, STUDENT

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Browser:
    def __init__(self, playwright, live_server):
        self.url = live_server.url
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 1366, "height": 900})
        self.page.set_default_timeout(20_000)
        expect.set_options(timeout=15_000)

    def log_in(self):
        self.page.goto(self.url + "/admin/")
        self.page.fill("#id_username", "rita")
        self.page.fill("#id_password", "pw-rita-123")
        self.page.click("input[type=submit]")
        expect(self.page.locator("h1")).to_have_text("Review queue")

    def shot(self, name):
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path


def _age(diff, days):
    PendingDiff.objects.filter(pk=diff.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_find_by_name_oldest_first_other_proposals_and_shortcuts(live_server, staff_user):
    maya = make_block(owner_id="3f6c9b2e", label="student", content=STUDENT, char_limit=2000)
    journey = make_block(owner_id="3f6c9b2e", label="journey", content="Week 1: brainstorm\n")
    sofia = make_block(owner_id="a8d2e5f1", label="student", content="Name: Sofía\n")
    learner_services.set_learner_profile(user_id="3f6c9b2e", display_name="Maya Thompson", by=Actor.importer("letta"))
    learner_services.set_learner_profile(user_id="a8d2e5f1", display_name="Sofía Ramírez-Núñez", by=Actor.importer("letta"))
    dolt.commit("test data")
    oldest = propose(sofia, "append", text="Plays the cello", reasoning="Sofía's oldest proposal")
    first = propose(maya, "str_replace", old_str="Grade: 11", new_str="Grade: 12", reasoning="New school year.")
    middle = propose(journey, "append", text="Week 2: first draft", reasoning="She wrote a draft.")
    other = propose(maya, "append", text="Interests: pottery", reasoning="Mentioned a pottery class.")
    for diff, days in ((oldest, 40), (first, 9), (middle, 5), (other, 1)):
        _age(diff, days)

    with sync_playwright() as p:
        b = Browser(p, live_server)
        page = b.page
        try:
            b.log_in()
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(4)
            expect(rows.first).to_contain_text("Sofía's oldest proposal")  # first in, first out
            expect(rows.first).to_contain_text("Sofía Ramírez-Núñez")
            expect(rows.last).to_contain_text("Mentioned a pottery class.")
            b.shot("queue-oldest-first")

            page.fill("#searchbar", "maya thom")
            page.press("#searchbar", "Enter")
            expect(rows).to_have_count(3)
            for i in range(3):
                expect(rows.nth(i)).to_contain_text("Maya Thompson")
            expect(rows.first).to_contain_text("New school year.")
            b.shot("queue-search-by-name")

            rows.first.get_by_role("link", name="student").click()
            expect(page.locator("h1")).to_contain_text("student of Maya Thompson")
            others = page.locator("#other-proposals")
            expect(others).to_contain_text("Other open proposals on this block (1)")
            expect(others).to_contain_text("Mentioned a pottery class.")
            expect(others.locator("tbody tr")).to_have_count(1)
            expect(others.get_by_role("link", name="append")).to_have_attribute(
                "href", f"/admin/diffs/pendingdiff/{other.pk}/change/")
            expect(page.locator(".breadcrumbs")).to_contain_text("Maya Thompson (3f6c9b2e) · student")
            b.shot("review-other-open-proposals")

            # Keyboard: next (newer) pending, back, the list of shortcuts, reject with r.
            page.keyboard.press("j")
            expect(page).to_have_url(f"{b.url}/admin/diffs/pendingdiff/{middle.pk}/change/")
            page.keyboard.press("k")
            expect(page).to_have_url(f"{b.url}/admin/diffs/pendingdiff/{first.pk}/change/")
            page.keyboard.press("?")
            expect(page.locator("#shortcuts table")).to_be_visible()
            expect(page.locator("#shortcuts")).to_contain_text("next pending proposal")
            # The decision stays in view at the bottom while the diff is long.
            expect(page.locator("#decide")).to_be_in_viewport()
            b.shot("review-shortcuts")
            page.keyboard.press("r")
            expect(page.locator("#id_reject-reason")).to_be_focused()
            page.keyboard.type("She is still in grade 11.")
            page.keyboard.press("Control+Enter")
            expect(page.locator("ul.messagelist .success")).to_contain_text("rejected")
        finally:
            b.browser.close()

    rejected = PendingDiff.objects.get(pk=first.pk)
    assert (rejected.status, rejected.review_note) == (DiffStatus.REJECTED, "She is still in grade 11.")
    assert PendingDiff.objects.filter(status=DiffStatus.PENDING).count() == 3


def test_bulk_approve_of_two_competing_stale_proposals_says_rebased(live_server, staff_user):
    block = make_block(owner_id="3f6c9b2e", label="student", content=STUDENT, char_limit=2000)
    learner_services.set_learner_profile(user_id="3f6c9b2e", display_name="Maya Thompson", by=Actor.system())
    dolt.commit("test data")
    name = propose(block, "str_replace", old_str="Name: Maya Tran", new_str="Name: Maya Tran-Thompson",
                   reasoning="Her full family name.")
    goal = propose(block, "str_replace", old_str="her family's bakery", new_str="her grandmother's bakery",
                   reasoning="The essay is about her grandmother.")
    _age(name, 2)
    _age(goal, 1)
    block_services.update_block_content(block=block, content=STUDENT + "Grade: 12 next year\n", by=Actor("staff", "sam"),
                                        reason="edited meanwhile", dolt_commit=False)  # both are stale now
    dolt.commit("edited meanwhile")

    with sync_playwright() as p:
        b = Browser(p, live_server)
        page = b.page
        try:
            b.log_in()
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(2)
            expect(page.locator("#result_list")).to_contain_text("now v2")  # stale, both
            page.check("#action-toggle")
            page.select_option("select[name=action]", "approve_selected")
            page.click("button[name=index]")
            messages = page.locator("ul.messagelist")
            expect(messages).to_contain_text("2 diff(s): 2 approved (0 applied as proposed, 2 rebased).")
            expect(messages.locator(".warning").first).to_contain_text("Rebased onto a newer version")
            expect(messages).to_contain_text("rebased onto v2 (proposed against v1), now version 3")
            expect(messages).to_contain_text("rebased onto v3 (proposed against v1), now version 4")
            expect(messages).to_contain_text("Maya Thompson (3f6c9b2e) · student")
            b.shot("bulk-approve-rebased")
        finally:
            b.browser.close()

    block = Block.objects.get(pk=block.pk)
    assert block.version == 4
    assert "Maya Tran-Thompson" in block.content and "grandmother's bakery" in block.content
    assert block.content.endswith("Grade: 12 next year\n")


def test_block_settings_and_a_learner_as_of_a_past_date(live_server, staff_user):
    block = make_block(owner_id="3f6c9b2e", label="student", content=STUDENT, char_limit=500,
                       metadata={"course_id": "college-essay", "letta": {"block_id": "block-7077"}})
    block = block_services.update_block_content(block=block, content=STUDENT.replace("bakery", "grandmother's bakery"),
                                                by=Actor("staff", "sam"), reason="v2", dolt_commit=False)
    learner_services.set_learner_profile(user_id="3f6c9b2e", display_name="Maya Thompson", by=Actor.system())
    HistoricalBlock.objects.filter(id=block.pk, version=1).update(history_date=timezone.now() - timedelta(days=90))
    HistoricalBlock.objects.filter(id=block.pk, version=2).update(history_date=timezone.now() - timedelta(days=30))
    dolt.commit("test data")
    past = (timezone.now() - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    length = len(block.content)

    with sync_playwright() as p:
        b = Browser(p, live_server)
        page = b.page
        try:
            b.log_in()
            page.goto(f"{b.url}/admin/blocks/block/{block.pk}/change/")
            expect(page.locator(".staff-metadata")).to_contain_text("course_id")
            expect(page.locator(".staff-metadata")).to_contain_text("college-essay")
            page.get_by_role("link", name="Settings").click()
            page.fill("#id_char_limit", "10")
            page.get_by_role("button", name="Save settings as a new version").click()
            expect(page.locator(".errorlist")).to_contain_text(f"the content has {length} characters")
            page.fill("#id_char_limit", "800")
            page.check("#id_read_only")
            page.fill("#id_reason", "She outgrew 500; locked until the exam.")
            b.shot("block-settings-form")
            page.get_by_role("button", name="Save settings as a new version").click()
            expect(page.locator("ul.messagelist .success")).to_contain_text("now version 3")
            expect(page.locator(".field-char_limit")).to_contain_text("800")
            expect(page.locator(".field-read_only img[alt=True]")).to_have_count(1)
            b.shot("block-settings-saved")

            page.goto(f"{b.url}/admin/learners/3f6c9b2e/")
            expect(page.locator("h1")).to_have_text("Maya Thompson (3f6c9b2e)")
            page.fill("#as-of-input", past)
            page.get_by_role("button", name="Show").click()
            entry = page.locator('.staff-as-of-block[data-label="student"]')
            expect(entry).to_contain_text("changed since")
            expect(entry.locator(".staff-then pre")).to_contain_text("college essay about her family's bakery")
            expect(entry.locator("table.staff-diff ins").first).to_contain_text("grandmother")
            b.shot("learner-as-of")
        finally:
            b.browser.close()

    block = Block.objects.get(pk=block.pk)
    assert (block.char_limit, block.read_only, block.version) == (800, True, 3)
    assert "locked until the exam" in HistoricalBlock.objects.get(id=block.pk, version=3).history_change_reason
