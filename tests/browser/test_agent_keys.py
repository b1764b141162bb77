"""Agent keys in the admin, in a real browser (issue 14 item 5): create a key, read it once, use
it against the API, revoke it, and see it refused. Screenshots go to test-artifacts/."""

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

from youlab.models import AgentKey

from .test_staff_at_scale import Browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _api_status(base_url: str, secret: str) -> int:
    request = urllib.request.Request(
        base_url + "/api/v1/users/maya/blocks/", headers={"Authorization": f"Api-Key {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_create_a_key_read_it_once_use_it_and_revoke_it(live_server, staff_user):
    with sync_playwright() as p:
        b = Browser(p, live_server)
        page = b.page
        try:
            b.log_in()
            page.goto(live_server.url + "/admin/youlab/agentkey/")
            page.click("text=Add agent API key")
            page.fill("#id_name", "tutor")
            page.uncheck("input[value='chats']")
            page.check("input[value='owui-key:read']")
            b.shot("agent-key-create-form")
            page.click("input[value='Create key']")

            secret = page.locator("#agent-key-secret").input_value()
            expect(page.locator("#content-main")).to_contain_text("This is the only time it is shown")
            b.shot("agent-key-created-once")
            assert _api_status(live_server.url, secret) == 200

            page.click("text=Done: back to the keys")
            row = page.locator("#result_list tbody tr", has_text="tutor")
            expect(row).to_contain_text("memory:read, memory:propose, owui-key:read")
            expect(row).to_contain_text("active")
            expect(page.locator("#result_list")).not_to_contain_text(secret)

            row.locator("input.action-select").check()
            page.select_option("select[name=action]", "revoke_selected")
            page.click("button[name=index]")
            expect(page.locator(".messagelist")).to_contain_text("Revoked 1 key(s): tutor")
            expect(page.locator("#result_list tbody tr", has_text="tutor")).to_contain_text("revoked")
            b.shot("agent-key-revoked")
        finally:
            b.browser.close()

    assert AgentKey.objects.get(name="tutor").revoked
    assert _api_status(live_server.url, secret) in (401, 403)
