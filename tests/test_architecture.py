"""The rules the codebase keeps (README "How the code is laid out"), checked on the real tree:
imports run one way, services take keyword arguments, one base for user-facing errors, modules a
reader can take in at one sitting."""

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

from youlab.dolt import DoltError
from youlab.errors import ServiceError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import import_graph  # noqa: E402

MAX_MODULE_LINES = 800


def _app_modules():
    for package in import_graph.packages(ROOT):
        for path in sorted((ROOT / package).rglob("*.py")):
            yield import_graph.module_name(path, ROOT), path


# --- layers --------------------------------------------------------------------------------------


def test_imports_run_one_way_and_every_package_has_a_floor():
    graph = import_graph.build(ROOT)
    assert graph.unplaced() == []
    assert [(a, b, [i.where for i in where]) for a, b, where in graph.upward()] == []
    # The graph is the real one (so the check above is not vacuous): the apps stand on each other.
    assert {("diffs", "blocks"), ("blocks", "youlab"), ("staff", "diffs"), ("staff", "chats")} <= set(graph.edges)
    assert not [b for a, b in graph.edges if a == "youlab" and b != "youlab"]  # the ground floor imports no app


def test_an_upward_import_is_found_even_inside_a_function(tmp_path):
    for package, source in {
        "youlab": "",
        "blocks": "from youlab import errors\n",
        "diffs": "def later():\n    from chats.models import ModuleChat\n    return ModuleChat\n",
        "chats": "from . import models\nimport importlib\nimportlib.import_module('staff.views')\n",
        "staff": "",
        "newapp": "",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "models.py").write_text(source)
    graph = import_graph.build(tmp_path)
    assert graph.unplaced() == ["newapp"]
    assert [(a, b, [i.where for i in where]) for a, b, where in graph.upward()] == [
        ("chats", "staff", ["chats/models.py:3"]),
        ("diffs", "chats", ["diffs/models.py:2"]),
    ]
    assert ("blocks", "youlab") in graph.edges and ("chats", "chats") in graph.edges


def test_the_script_says_so_and_exits_zero():
    assert import_graph.main([]) == 0


# --- services ------------------------------------------------------------------------------------


def _service_modules():
    for package in import_graph.packages(ROOT):
        if (ROOT / package / "services.py").exists():
            yield importlib.import_module(f"{package}.services")


def test_public_service_functions_take_keyword_arguments_only():
    checked, positional = [], []
    for module in _service_modules():
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            checked.append(f"{module.__name__}.{name}")
            kinds = {p.kind for p in inspect.signature(function).parameters.values()}
            if kinds & {inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                        inspect.Parameter.VAR_POSITIONAL}:
                positional.append(f"{module.__name__}.{name}{inspect.signature(function)}")
    assert positional == []
    assert {"blocks.services.update_block_content", "diffs.services.approve_diff",
            "chats.services.set_user_key", "learners.services.set_learner_profile"} <= set(checked)


# --- errors --------------------------------------------------------------------------------------

# Failures of an import source (a git repository, a Letta server or database): each becomes a
# skipped item of the import's report, never an error the API, the admin or a command shows.
IMPORT_SOURCE_ERRORS = {"RepositoryRefused", "GitError", "ImportSourceError", "SourceLimitExceeded"}
# The MCP transport's JSON-RPC errors (integer codes in the MCP spec's shape); where one of ours
# causes them, our ServiceError rides in their `data` (agents/mcp.py).
PROTOCOL_ERRORS = {"ProtocolError"}


def test_every_user_facing_error_is_a_service_error():
    outside = []
    for package in import_graph.packages(ROOT):
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations." in info.name or ".management.commands." in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if (cls.__module__ == module.__name__ and issubclass(cls, Exception) and not name.startswith("_")
                        and not issubclass(cls, (ServiceError, DoltError)) and name not in IMPORT_SOURCE_ERRORS | PROTOCOL_ERRORS):
                    outside.append(f"{module.__name__}.{name}")
    assert outside == []
    from chats.exceptions import ChatsError
    from diffs.edits import EditError
    from youlab.api.errors import ApiError

    assert all(issubclass(cls, ServiceError) for cls in (EditError, ChatsError, ApiError))


# --- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [MAX_MODULE_LINES])
def test_no_module_is_longer_than_a_reader_takes_in_at_once(limit):
    long = {}
    for module, path in _app_modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            long[module] = lines
    assert long == {}
