"""What an adversarial review of the landed main found (2026-12-05), one test per finding, each
failing before its fix: calendar-edge `as_of`, the export showing callback URLs, MCP list rows
with whole texts, metadata numbers Dolt cannot keep, proposals shown to staff who may not read
them, a body limit below the text limit, unbounded history pages, an unapprovable `create`,
misspelt body fields ignored, 6to4/site-local callback targets, agent key names posing as staff."""

import json

import pytest
from django.test import override_settings

from tests.factories import make_agent_key, make_block
from tests.support import api, assert_error, client_for_key

STUDENT = "# Student\nName: Maya\n"


# --- as_of: an offset that pushes the moment out of datetime's range is a 500 --------------------


@pytest.mark.django_db
@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_as_of_at_the_edge_of_the_calendar_is_a_400_not_a_500(agent, as_of):
    make_block(owner_id="maya", label="student", content=STUDENT)
    agent.raise_request_exception = False
    response = agent.get(api("users", "maya", "blocks", "student"), {"as_of": as_of})
    assert response.status_code in (400, 404), response.status_code


@pytest.mark.django_db
@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_learner_page_as_of_at_the_edge_of_the_calendar_is_not_a_500(client, staff_user, as_of):
    make_block(owner_id="maya", label="student", content=STUDENT)
    client.force_login(staff_user)
    client.raise_request_exception = False
    response = client.get("/admin/learners/maya/", {"as_of": as_of})
    assert response.status_code == 200, response.status_code


# --- callback_url: "never shown by the API (a token in it stays yours)" — the export shows it ----

HOOK = "http://127.0.0.1:9/hook?token=agent-a-secret-token"


@pytest.mark.django_db
@override_settings(YOULAB_WEBHOOK_SECRET="s3cret", YOULAB_WEBHOOK_HOSTS=["127.0.0.1"])
def test_another_agents_callback_token_is_not_readable_through_the_export(agent):
    make_block(owner_id="maya", label="student", content=STUDENT)
    proposed = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                          {"operation": "append", "text": "Likes chess", "callback_url": HOOK}, format="json")
    assert proposed.status_code == 201, proposed.content
    assert HOOK not in proposed.content.decode()  # the proposal's own answer leaves it out
    # Another agent service, with only the default scopes, reads the learner's export.
    reader = client_for_key(make_agent_key(name="coach", scopes=["memory:read"])[1])
    export = reader.get(api("users", "maya", "export"))
    assert export.status_code == 200
    assert "agent-a-secret-token" not in export.content.decode(), "callback_url (with its token) is in the export"


# --- MCP: memory_list_proposals rows carry the full texts the REST list leaves out ----------------


@pytest.mark.django_db
def test_mcp_list_proposals_rows_leave_out_the_heavy_texts_like_the_rest_list(agent_key):
    from tests.agents.test_transport import Mcp

    make_block(owner_id="maya", label="student", content=STUDENT)
    agent = client_for_key(agent_key[1])
    big = "x" * 200_000
    assert agent.post(api("users", "maya", "blocks", "student", "diffs"),
                      {"operation": "rethink", "content": big}, format="json").status_code == 201
    rest = agent.get(api("users", "maya", "diffs"), {"mine": "true"}).json()
    assert "proposed_content" not in rest["results"][0]
    mcp = Mcp(agent_key[1])
    mcp.initialize()
    status, body = mcp.call("tools/call", {"name": "memory_list_proposals", "arguments": {}})
    row = body["result"]["structuredContent"]["results"][0]
    assert not set(row) & {"arguments", "proposed_content", "preview"}, (
        f"MCP list row carries {len(json.dumps(row))} characters: {sorted(set(row) & {'arguments', 'proposed_content', 'preview'})}")


# --- block metadata: values JSON allows but the database cannot store ----------------------------


@pytest.mark.django_db
def test_settings_metadata_with_a_huge_integer_is_a_400_not_a_500(staff):
    make_block(owner_id="maya", label="student", content=STUDENT)
    staff.raise_request_exception = False
    body = '{"metadata": {"n": %s}}' % ("9" * 4000)
    response = staff.patch(api("users", "maya", "blocks", "student"), body, content_type="application/json")
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])


@pytest.mark.django_db
def test_admin_settings_metadata_with_a_huge_integer_is_a_form_error_not_a_500(client, staff_user):
    block = make_block(owner_id="maya", label="student", content=STUDENT)
    client.force_login(staff_user)
    client.raise_request_exception = False
    response = client.post(f"/admin/blocks/block/{block.pk}/settings/", {
        "description": "", "char_limit": "", "metadata": '{"n": %s}' % ("9" * 4000), "reason": "",
        "version": block.version,
    })
    assert response.status_code in (200, 302), response.status_code


# --- least privilege: the learner page shows proposals to staff who may not read proposals -------


def _staff_with(django_user_model, *perms):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.mark.django_db
def test_learner_page_hides_proposals_from_staff_without_diffs_view_permission(client, django_user_model):
    from tests.factories import propose

    block = make_block(owner_id="maya", label="student", content=STUDENT)
    propose(block, "append", reasoning="SECRET-REASONING she told me in confidence", text="x")
    viewer = _staff_with(django_user_model, "blocks.view_block")
    client.force_login(viewer)
    from rest_framework.test import APIClient

    api_client = APIClient()
    api_client.force_login(viewer)
    assert api_client.get(api("users", "maya", "diffs")).status_code == 403  # the API refuses
    page = client.get("/admin/learners/maya/")
    assert page.status_code == 200
    assert "SECRET-REASONING" not in page.content.decode(), "the learner page shows proposals without diffs.view_pendingdiff"


# --- body size: the documented 1,000,000-character text does not fit the 2.5 MB body limit -------


@pytest.mark.django_db
def test_a_rethink_well_under_the_text_limit_fits_the_request_body_limit(agent):
    from diffs.api.serializers import MAX_TEXT_LENGTH

    make_block(owner_id="maya", label="notes", content="")
    content = "学" * (MAX_TEXT_LENGTH // 2)  # half the documented limit, as json.dumps sends it
    body = json.dumps({"operation": "rethink", "content": content})  # ensure_ascii: \u5b66 per character
    response = agent.post(api("users", "maya", "blocks", "notes", "diffs"), body, content_type="application/json")
    assert response.status_code == 201, (response.status_code, len(body), response.content[:200])


# --- bounded work: block history and block lists carry every full text (500 per page) -------------


@pytest.mark.django_db
def test_one_history_page_is_bounded_like_the_diff_list(agent):
    import time

    from blocks import services as block_services
    from youlab.actors import Actor

    block = make_block(owner_id="maya", label="notes", content="")
    for n in range(20):  # 20 versions of a 500,000-character block (half the proposal text limit)
        block = block_services.update_block_content(block=block, content=f"{n}" + "y" * 500_000,
                                                    by=Actor.system(), reason="grow", dolt_commit=False)
    started = time.monotonic()
    response = agent.get(api("users", "maya", "blocks", "notes", "history"), {"limit": 500})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    size = len(response.content)
    # The diff list leaves texts out because "a page of 500 would be gigabytes"; history does not.
    assert size < 5_000_000, f"one history page: {size:,} bytes in {elapsed:.1f} s for one memory:read request"


# --- a `create` for a soft-deleted label is accepted but can never be approved --------------------


@pytest.mark.django_db(transaction=True)
def test_a_create_proposal_accepted_for_a_soft_deleted_label_can_be_decided(agent, staff, staff_user):
    from blocks import services as block_services
    from diffs.models import PendingDiff
    from youlab.actors import Actor

    block = make_block(owner_id="maya", label="student", content=STUDENT)
    block_services.set_block_deleted(block=block, deleted=True, by=Actor.staff(staff_user), reason="gone")
    proposed = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                          {"operation": "create", "content": "a fresh start"}, format="json")
    if proposed.status_code != 201:
        return  # refused when proposed: fine
    approved = staff.post(api("diffs", proposed.json()["id"], "approve"), {}, format="json")
    diff = PendingDiff.objects.get(pk=proposed.json()["id"])
    # Approving it fails with 409 block_exists and the diff stays pending for ever.
    assert approved.status_code == 200 or diff.status != "pending", (approved.status_code, approved.json(), diff.status)


# --- strict bodies: a misspelt field on approve is ignored, and the unedited text is applied ------


@pytest.mark.django_db(transaction=True)
def test_approve_with_a_misspelt_edited_content_is_refused_not_applied_as_proposed(agent, staff):
    from blocks.models import Block

    make_block(owner_id="maya", label="student", content=STUDENT)
    proposed = agent.post(api("users", "maya", "blocks", "student", "diffs"),
                          {"operation": "append", "text": "Home address: 12 Elm St"}, format="json")
    assert proposed.status_code == 201
    # The reviewer meant to strip the address before approving; one letter off.
    response = staff.post(api("diffs", proposed.json()["id"], "approve"),
                          {"edited_contnet": STUDENT + "Lives near the school"}, format="json")
    content = Block.objects.get(owner_id="maya", label="student").content
    assert response.status_code == 400 and "12 Elm St" not in content, (response.status_code, content)


# --- callbacks: addresses that embed or route to private networks pass as public ------------------


@pytest.mark.parametrize("address", ["2002:a9fe:a9fe::1", "2002:7f00:1::1", "fec0::1"])
def test_6to4_and_site_local_addresses_are_not_public_callback_targets(address):
    # 2002::/16 (6to4) embeds an IPv4 address (169.254.169.254, 127.0.0.1 here); fec0::/10 is
    # the deprecated site-local range. Python 3.11's is_global calls them global.
    import ipaddress

    from youlab import webhooks

    assert not webhooks._public(webhooks._unmapped(ipaddress.ip_address(address)))


# --- agent key names: `staff:<user>` is how staff proposals are recorded ---------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["staff:rita", "tutor:v2"])
def test_an_agent_key_cannot_be_named_like_a_staff_actor(name):
    from youlab import keys
    from youlab.errors import ServiceError

    with pytest.raises(ServiceError, match="invalid name"):
        keys.create_agent_key(name=name)
