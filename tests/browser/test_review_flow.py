"""A reviewer's session in a real browser: log in, open the queue, approve one diff, reject another.

Playwright (Python) drives Debian's Chromium (/usr/bin/chromium, installed by
scripts/system-deps.sh); no browser is ever downloaded. Without Playwright or Chromium this test
fails: it is never skipped. The Django ORM is used only before and after the browser session
(Playwright's sync API runs an event loop in this thread, where Django refuses ORM calls).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from blocks.models import Block, HistoricalBlock
from diffs.models import DiffStatus, PendingDiff
from tests.factories import make_block, propose
from youlab import dolt

CHROMIUM = os.environ.get("YOULAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STUDENT = (
    "# Student\n"
    "Name: Maya Tran\n"
    "Grade: 11\n"
    "Goal: write a college essay about her family's bakery\n"
    "Strengths: vivid sensory detail, honest voice\n"
    "Struggles: long paragraphs, ends essays abruptly\n"
    "Interests: baking, chess, Vietnamese poetry\n"
)
# Chromium as root in a container, with no network beyond loopback (see the env notes).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_staff_review_flow_in_chromium(live_server, staff_user):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/system-deps.sh (apt chromium)"
    block = make_block(owner_id="maya", label="student", content=STUDENT, char_limit=2000)
    dolt.commit("test data")
    to_approve = propose(
        block, "str_replace",
        old_str="Goal: write a college essay about her family's bakery",
        new_str="Goal: write a college essay about her grandmother's bakery and patience",
        reasoning="Maya said the essay is really about her grandmother.",
    )
    to_reject = propose(block, "append", text="Dislikes poetry", reasoning="Guessing from one remark.")
    log_before = dolt.log_count()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "diff-page.png"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20_000)
            expect.set_options(timeout=15_000)  # a loaded CI machine renders slowly

            # Logging in lands on the review queue.
            page.goto(live_server.url + "/admin/")
            page.fill("#id_username", "rita")
            page.fill("#id_password", "pw-rita-123")
            page.click("input[type=submit]")
            expect(page).to_have_url(f"{live_server.url}/admin/diffs/pendingdiff/")
            expect(page.locator("h1")).to_have_text("Review queue")
            expect(page.locator('.staff-tab .count[data-status="pending"]')).to_have_text("2")
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(2)

            # The review page: side-by-side diff with the changed words marked.
            rows.filter(has_text="grandmother").get_by_role("link", name="student").click()
            expect(page.locator("h1")).to_contain_text("student")
            expect(page.locator("table.staff-diff del")).to_contain_text(["family"])
            expect(page.locator("table.staff-diff ins").first).to_contain_text("grandmother")
            expect(page.get_by_text("Maya said the essay is really about her grandmother.")).to_be_visible()
            page.screenshot(path=str(screenshot), full_page=True)

            page.fill("#id_approve-note", "Matches what she told me.")
            page.get_by_role("button", name="Approve", exact=True).click()
            expect(page).to_have_url(f"{live_server.url}/admin/diffs/pendingdiff/")
            expect(page.locator("ul.messagelist .success")).to_contain_text("approved: applied as proposed, now version 2")
            expect(rows).to_have_count(1)

            # Reject the other one with a reason.
            rows.filter(has_text="Guessing").get_by_role("link", name="student").click()
            page.get_by_role("button", name="Reject").click()  # no reason: the browser refuses
            expect(page.locator("#id_reject-reason:invalid")).to_have_count(1)
            page.fill("#id_reject-reason", "   ")  # blank: the server refuses
            page.get_by_role("button", name="Reject").click()
            expect(page.locator(".staff-reject .errorlist")).to_contain_text("A reason is required")
            page.fill("#id_reject-reason", "Not what she said; she loves poetry.")
            page.get_by_role("button", name="Reject").click()
            expect(page.locator("ul.messagelist .success")).to_contain_text("rejected")
            expect(page.locator('.staff-tab .count[data-status="pending"]')).to_have_text("0")

            # The block's history page shows the approval, linked to its diff.
            page.goto(f"{live_server.url}/admin/blocks/block/{block.pk}/history/")
            history_rows = page.locator("#change-history tbody tr")
            expect(history_rows).to_have_count(2)
            expect(history_rows.first).to_contain_text("staff:rita")
            expect(history_rows.first.get_by_role("link", name="diff")).to_have_attribute(
                "href", f"/admin/diffs/pendingdiff/{to_approve.pk}/change/"
            )

            # And the Dolt log page shows both decisions, authored by the reviewer.
            page.goto(f"{live_server.url}/admin/dolt-log/")
            log_rows = page.locator("#dolt-log tbody tr")
            expect(log_rows.nth(0)).to_contain_text(f"Reject diff {to_reject.pk}")
            expect(log_rows.nth(0)).to_contain_text("Rita Reviewer")
            expect(log_rows.nth(1)).to_contain_text(f"Approve diff {to_approve.pk}")
        finally:
            browser.close()

    block = Block.objects.get(pk=block.pk)
    assert block.version == 2
    assert block.content == STUDENT.replace(
        "her family's bakery", "her grandmother's bakery and patience"
    )
    history = list(HistoricalBlock.objects.filter(id=block.pk).order_by("version"))
    assert [(h.version, h.actor, h.diff_id) for h in history] == [
        (1, "system", None), (2, "staff:rita", to_approve.pk)
    ]
    approved, rejected = PendingDiff.objects.get(pk=to_approve.pk), PendingDiff.objects.get(pk=to_reject.pk)
    assert (approved.status, approved.review_note, approved.reviewer_id) == (
        DiffStatus.APPROVED, "Matches what she told me.", staff_user.pk
    )
    assert (rejected.status, rejected.review_note) == (DiffStatus.REJECTED, "Not what she said; she loves poetry.")

    entries = dolt.log(limit=dolt.log_count() - log_before)
    assert [e.message.split(":")[0] for e in entries] == [f"Reject diff {to_reject.pk}", f"Approve diff {to_approve.pk}"]
    assert {(e.author, e.email) for e in entries} == {("Rita Reviewer", "rita@example.org")}
    assert screenshot.stat().st_size > 10_000
