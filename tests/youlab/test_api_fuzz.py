"""Schema fuzzing: schemathesis drives every documented operation through the real WSGI app
(on the real Dolt test database) and checks: no 5xx, documented status codes, content types,
headers, response bodies that match the schema, and that data violating the schema is refused.

Each operation gets the schema's explicit examples, a few schema-conforming cases and a few
schema-violating ones (bounded, so the whole file stays well under two minutes).

schemathesis' own pytest integration (`@schema.parametrize()`) reads `Node._nodeid`, which
pytest 9.2 no longer has; the operations are parametrized here with its Python API instead.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from blocks.models import OwnerType
from tests.factories import make_agent_key, make_block, propose
from youlab.wsgi import application

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
STAFF_ONLY = ("/approve/", "/reject/", "/revert/")

# Schema-violating requests must be refused with a 4xx; 412 (stale If-Match) and 413 (body over
# the upload limit) are refusals too, beyond schemathesis' default list.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429", "5xx",
]}}})

# The live schema, as served by the app (no database needed to build it).
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def in_test_transaction(db):
    """Requests go straight to the WSGI app on this thread's connection, inside the test's
    transaction; like Django's test client, keep request signals from closing that connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(in_test_transaction, staff_user, settings):
    # Fuzzing is many requests from one key: lift the per-key throttle for it.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"agent": "100000/minute"}}
    block = make_block(owner_id="maya", label="student", content="# Student\nName: Maya\n")
    make_block(owner_id="college-essay", label="course", owner_type=OwnerType.SHARED, content="Week 1")
    diff = propose(block, "append", text="Likes chess")
    _, key = make_agent_key(name="fuzzer")
    client = Client()
    client.force_login(staff_user)
    csrf = _get_new_csrf_string()
    return {
        "known": {"user_id": "maya", "namespace": "college-essay", "diff_id": str(diff.pk)},
        "agent": {"Authorization": f"Api-Key {key}"},
        "staff": {"X-CSRFToken": csrf},
        "staff_cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
    }


def _run(strategy, credentials, checks, max_examples):
    @given(case=strategy)
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        who = "staff" if case.operation.path.endswith(STAFF_ONLY) else "agent"
        cookies = credentials["staff_cookies"] if who == "staff" else None
        case.call_and_validate(headers=credentials[who], cookies=cookies, checks=checks)

    run()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_conforms_to_its_schema(operation, credentials):
    examples = SCHEMA.get_strategies_from_examples(operation)
    if examples:
        _run(st.one_of(examples), credentials, CHECKS, max_examples=len(examples) * 3)
    _run(operation.as_strategy(GenerationMode.POSITIVE), credentials, CHECKS, MAX_EXAMPLES)
    # Again on existing data: random ids mostly meet 404s, these reach the 2xx answers.
    known = _known_path_parameters(operation, credentials["known"])
    if known:
        _run(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known), credentials, CHECKS,
             MAX_EXAMPLES)
    if _can_violate(operation):
        _run(operation.as_strategy(GenerationMode.NEGATIVE), credentials, [*CHECKS, negative_data_rejection],
             MAX_EXAMPLES)


def _known_path_parameters(operation, known) -> dict:
    names = {parameter.name for parameter in operation.path_parameters}
    values = {name: known[name] for name in names if name in known}
    if "label" in names:
        values["label"] = "course" if "namespace" in names else "student"
    return values


def _can_violate(operation) -> bool:
    """False when every input is a free string (a path or a header can only carry strings),
    where hypothesis would search in vain for a schema-violating request."""
    if list(operation.body):
        return True
    for group in (operation.path_parameters, operation.query, operation.headers):
        for parameter in group:
            schema = parameter.definition.get("schema", {})
            if parameter.location != "path" and schema.get("type", "string") != "string":
                return True
            if set(schema) - {"type", "description"}:
                return True
    return False
