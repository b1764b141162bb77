"""diffs.edits: the canonical operations, their errors, alias normalisation, the preview diff and
the approval plan.

Pure functions: no database.
"""

import pytest

from diffs.edits import (
    MAX_REPORTED_LINES,
    OPERATIONS,
    ApprovalPlan,
    EditError,
    apply_operation,
    dominant_line_ending,
    normalize_operation,
    plan_approval,
    split_lines,
    unified_diff,
)

NFD_CAFE = "cafe\u0301"  # "café" with a combining acute accent
NFC_CAFE = "caf\u00e9"


# --- successes ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "operation", "arguments", "expected"),
    [
        # append: one newline between, none doubled, empty block becomes the text
        ("", "append", {"text": "x"}, "x"),
        ("a", "append", {"text": "b"}, "a\nb"),
        ("a\n", "append", {"text": "b"}, "a\nb"),
        ("a\n\n", "append", {"text": "b"}, "a\n\nb"),
        ("a", "append", {"text": "b\n"}, "a\nb\n"),
        ("a", "append", {"text": "b\nc"}, "a\nb\nc"),
        ("a\r\nb", "append", {"text": "c"}, "a\r\nb\r\nc"),
        ("a\r\nb\r\n", "append", {"text": "c\nd"}, "a\r\nb\r\nc\r\nd"),
        ("a\nb", "append", {"text": "c\r\nd"}, "a\nb\nc\nd"),
        ("a", "append", {"text": "b\r\nc"}, "a\r\nb\r\nc"),
        ("😀", "append", {"text": "中文"}, "😀\n中文"),
        (NFD_CAFE, "append", {"text": "👨‍👩‍👧"}, NFD_CAFE + "\n👨‍👩‍👧"),
        # str_replace
        ("hello world", "str_replace", {"old_str": "world", "new_str": "there"}, "hello there"),
        ("abc def", "str_replace", {"old_str": "abc", "new_str": "x"}, "x def"),
        ("abc def", "str_replace", {"old_str": "def", "new_str": "x"}, "abc x"),
        ("abc", "str_replace", {"old_str": "abc", "new_str": ""}, ""),
        ("a b c", "str_replace", {"old_str": " b", "new_str": ""}, "a c"),
        ("same", "str_replace", {"old_str": "same", "new_str": "same"}, "same"),
        ("a\nb\nc", "str_replace", {"old_str": "b\nc", "new_str": "B"}, "a\nB"),
        ("a.*b", "str_replace", {"old_str": ".*", "new_str": "+"}, "a+b"),
        ("a\r\nb\r\nc", "str_replace", {"old_str": "b\r\nc", "new_str": "x"}, "a\r\nx"),
        # CRLF content, old_str sent with bare \n: matched with the content's line ending
        ("a\r\nb\r\nc\r\n", "str_replace", {"old_str": "a\nb", "new_str": "x\ny"},
         "x\r\ny\r\nc\r\n"),
        ("a\r\nb\r\n", "str_replace", {"old_str": "b", "new_str": "b\nb2"}, "a\r\nb\r\nb2\r\n"),
        ("I 💙 中文", "str_replace", {"old_str": "💙", "new_str": "❤️"}, "I ❤️ 中文"),
        (NFD_CAFE + " au lait", "str_replace", {"old_str": NFD_CAFE, "new_str": "tea"},
         "tea au lait"),
        # insert after line N: 0 = top, N = end
        ("", "insert", {"insert_line": 0, "text": "x"}, "x"),
        ("a\nb", "insert", {"insert_line": 0, "text": "x"}, "x\na\nb"),
        ("a\nb", "insert", {"insert_line": 1, "text": "x"}, "a\nx\nb"),
        ("a\nb", "insert", {"insert_line": 2, "text": "x"}, "a\nb\nx"),
        ("a\nb\n", "insert", {"insert_line": 2, "text": "x"}, "a\nb\nx\n"),
        ("a\nb\n", "insert", {"insert_line": 0, "text": "x\n"}, "x\na\nb\n"),
        ("a\nb", "insert", {"insert_line": 1, "text": "x\ny"}, "a\nx\ny\nb"),
        ("\n", "insert", {"insert_line": 0, "text": "x"}, "x\n\n"),
        ("\n", "insert", {"insert_line": 1, "text": "x"}, "\nx\n"),
        ("a\r\nb\r\n", "insert", {"insert_line": 1, "text": "x\ny"}, "a\r\nx\r\ny\r\nb\r\n"),
        ("a\r\nb", "insert", {"insert_line": 2, "text": "x"}, "a\r\nb\r\nx"),
        ("a\rb", "insert", {"insert_line": 1, "text": "x"}, "a\rb\nx"),  # lone \r: one line
        ("😀\n中文", "insert", {"insert_line": 1, "text": NFD_CAFE}, "😀\n" + NFD_CAFE + "\n中文"),
        # rethink and create take the content verbatim
        ("old", "rethink", {"content": "new"}, "new"),
        ("old", "rethink", {"content": ""}, ""),
        ("a\r\n", "rethink", {"content": "b\nc"}, "b\nc"),
        (None, "create", {"content": "x"}, "x"),
        ("", "create", {"content": "x", "description": "d", "char_limit": 100}, "x"),
        (None, "create", {"content": ""}, ""),
    ],
)
def test_apply_operation(content, operation, arguments, expected):
    assert apply_operation(content, operation, arguments) == expected


# --- errors of applying --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "operation", "arguments", "code", "details"),
    [
        ("abc", "str_replace", {"old_str": "x", "new_str": "y"}, "old_str_not_found", {}),
        ("abc", "str_replace", {"old_str": "ABC", "new_str": "y"}, "old_str_not_found", {}),
        ("", "str_replace", {"old_str": "a", "new_str": "y"}, "old_str_not_found", {}),
        # no Unicode normalisation: NFC does not match NFD
        (NFD_CAFE, "str_replace", {"old_str": NFC_CAFE, "new_str": "y"}, "old_str_not_found", {}),
        ("a\nb a\nc\na", "str_replace", {"old_str": "a", "new_str": "y"}, "old_str_not_unique",
         {"lines": [1, 2, 4], "count": 3}),
        ("x x", "str_replace", {"old_str": "x", "new_str": "y"}, "old_str_not_unique",
         {"lines": [1], "count": 2}),
        ("aaa", "str_replace", {"old_str": "aa", "new_str": "y"}, "old_str_not_unique",
         {"lines": [1], "count": 2}),  # overlapping matches are ambiguous too
        ("中\n中", "str_replace", {"old_str": "中", "new_str": "y"}, "old_str_not_unique",
         {"lines": [1, 2], "count": 2}),
        ("a\r\nb\r\na\r\nb", "str_replace", {"old_str": "a\nb", "new_str": "y"},
         "old_str_not_unique", {"lines": [1, 3], "count": 2}),
        ("abc", "str_replace", {"old_str": "", "new_str": "y"}, "invalid_arguments",
         {"field": "old_str"}),
        ("a\nb", "insert", {"insert_line": 3, "text": "x"}, "insert_line_out_of_range",
         {"insert_line": 3, "line_count": 2}),
        ("a\nb\n", "insert", {"insert_line": 3, "text": "x"}, "insert_line_out_of_range",
         {"insert_line": 3, "line_count": 2}),
        ("a\nb", "insert", {"insert_line": -1, "text": "x"}, "insert_line_out_of_range",
         {"insert_line": -1, "line_count": 2}),
        ("", "insert", {"insert_line": 1, "text": "x"}, "insert_line_out_of_range",
         {"insert_line": 1, "line_count": 0}),
        ("existing", "create", {"content": "x"}, "block_exists", {}),
        ("a", "delete", {}, "unknown_operation", {"operation": "delete"}),
        ("a", "APPEND", {"text": "x"}, "unknown_operation", {"operation": "APPEND"}),
        # aliases are for the API edge only
        ("a", "core_memory_append", {"content": "x"}, "unknown_operation",
         {"operation": "core_memory_append"}),
        ("a", "append", {"content": "x"}, "invalid_arguments", {"field": "content"}),
        ("a", None, {}, "unknown_operation", {"operation": "None"}),
        ("a", "append", {}, "invalid_arguments", {"field": "text"}),
        ("a", "append", {"text": 3}, "invalid_arguments", {"field": "text"}),
        ("a", "insert", {"insert_line": True, "text": "x"}, "invalid_arguments",
         {"field": "insert_line"}),
        ("a", "rethink", {"content": "x", "label": "human"}, "invalid_arguments",
         {"field": "label"}),
        ("a", "append", ["text"], "invalid_arguments", {"field": "arguments"}),
    ],
)
def test_apply_operation_errors(content, operation, arguments, code, details):
    with pytest.raises(EditError) as caught:
        apply_operation(content, operation, arguments)
    assert caught.value.code == code
    assert caught.value.details == details
    assert caught.value.message


@pytest.mark.parametrize(
    ("insert_line", "ok"), [(0, True), (1, True), (3, True), (4, False), (-1, False)]
)
def test_insert_line_bounds(insert_line, ok):
    content = "one\ntwo\nthree"  # 3 lines
    if ok:
        result = apply_operation(content, "insert", {"insert_line": insert_line, "text": "new"})
        assert split_lines(result)[insert_line].rstrip("\n") == "new"
    else:
        with pytest.raises(EditError, match="between 0 and 3") as caught:
            apply_operation(content, "insert", {"insert_line": insert_line, "text": "new"})
        assert caught.value.code == "insert_line_out_of_range"


def test_not_unique_reports_a_bounded_number_of_lines():
    content = "needle\n" * 5000  # also a block of realistic size for the scan
    with pytest.raises(EditError) as caught:
        apply_operation(content, "str_replace", {"old_str": "needle", "new_str": "x"})
    assert caught.value.details["count"] == 5000
    assert caught.value.details["lines"] == list(range(1, MAX_REPORTED_LINES + 1))
    assert "occurs 5000 times (lines 1, 2, 3" in caught.value.message


def test_crlf_is_never_corrupted():
    content = "line one\r\nline two\r\nline three\r\n"
    edits = [
        ("append", {"text": "four\nfive"}),
        ("str_replace", {"old_str": "two\nline three", "new_str": "2\nline 3"}),
        ("insert", {"insert_line": 0, "text": "zero"}),
    ]
    for operation, arguments in edits:
        content = apply_operation(content, operation, arguments)
    assert content == "zero\r\nline one\r\nline 2\r\nline 3\r\nfour\r\nfive"
    assert "\n" not in content.replace("\r\n", "")


# --- normalisation -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("operation", "arguments", "expected_operation", "expected_arguments"),
    [
        ("append", {"text": "x"}, "append", {"text": "x"}),
        ("append", {"content": "x"}, "append", {"text": "x"}),
        ("core_memory_append", {"content": "x"}, "append", {"text": "x"}),
        ("core_memory_append", {"text": "x"}, "append", {"text": "x"}),
        ("str_replace", {"old_str": "a", "new_str": "b"}, "str_replace",
         {"old_str": "a", "new_str": "b"}),
        ("str_replace", {"old_string": "a", "new_string": "b"}, "str_replace",
         {"old_str": "a", "new_str": "b"}),
        ("core_memory_replace", {"old_content": "a", "new_content": ""}, "str_replace",
         {"old_str": "a", "new_str": ""}),
        ("memory_replace", {"old_str": "a", "new_str": "b"}, "str_replace",
         {"old_str": "a", "new_str": "b"}),
        ("memory_str_replace", {"old_string": "a", "new_string": "b"}, "str_replace",
         {"old_str": "a", "new_str": "b"}),
        ("insert", {"insert_line": 1, "text": "x"}, "insert", {"insert_line": 1, "text": "x"}),
        ("insert", {"insert_line": 1, "insert_text": "x"}, "insert",
         {"insert_line": 1, "text": "x"}),
        ("insert", {"insert_line": 2, "new_str": "x"}, "insert", {"insert_line": 2, "text": "x"}),
        ("insert", {"insert_line": -1, "text": "x"}, "insert", {"insert_line": -1, "text": "x"}),
        ("memory_insert", {"new_str": "x", "insert_line": 0}, "insert",
         {"insert_line": 0, "text": "x"}),
        ("memory_insert", {"new_str": "x", "insert_line": 3}, "insert",
         {"insert_line": 3, "text": "x"}),
        # Letta's default insert_line=-1 means "the end of the block"
        ("memory_insert", {"new_str": "x"}, "append", {"text": "x"}),
        ("memory_insert", {"new_str": "x", "insert_line": -1}, "append", {"text": "x"}),
        ("memory_insert", {"new_str": "x", "insert_line": None}, "append", {"text": "x"}),
        ("memory_insert", {"insert_text": "x", "insert_line": -1}, "append", {"text": "x"}),
        ("rethink", {"content": "x"}, "rethink", {"content": "x"}),
        ("rethink", {"new_memory": "x"}, "rethink", {"content": "x"}),
        ("memory_rethink", {"new_memory": ""}, "rethink", {"content": ""}),
        ("create", {"content": "x"}, "create", {"content": "x"}),
        ("create", {"file_text": "x"}, "create", {"content": "x"}),
        ("memory_create", {"content": "x", "description": "d", "char_limit": 5}, "create",
         {"content": "x", "description": "d", "char_limit": 5}),
        ("create", {"content": "x", "description": None, "char_limit": None}, "create",
         {"content": "x"}),
    ],
)
def test_normalize_operation(operation, arguments, expected_operation, expected_arguments):
    sent = dict(arguments)
    assert normalize_operation(operation, arguments) == (expected_operation, expected_arguments)
    assert arguments == sent  # the caller's dict (stored "as sent") is left alone


@pytest.mark.parametrize(
    ("operation", "arguments", "code", "field"),
    [
        ("delete", {}, "unknown_operation", None),
        ("", {}, "unknown_operation", None),
        ("Append", {"text": "x"}, "unknown_operation", None),
        ("memory_delete", {}, "unknown_operation", None),
        ("rethink_memory", {"new_memory": "x"}, "unknown_operation", None),
        (None, {}, "unknown_operation", None),
        (3, {}, "unknown_operation", None),
        (["append"], {}, "unknown_operation", None),
        ("append", None, "invalid_arguments", "arguments"),
        ("append", [("text", "x")], "invalid_arguments", "arguments"),
        ("append", "x", "invalid_arguments", "arguments"),
        # missing
        ("append", {}, "invalid_arguments", "text"),
        ("str_replace", {"old_str": "a"}, "invalid_arguments", "new_str"),
        ("str_replace", {"new_str": "a"}, "invalid_arguments", "old_str"),
        ("insert", {"text": "x"}, "invalid_arguments", "insert_line"),
        ("insert", {"insert_line": 0}, "invalid_arguments", "text"),
        ("memory_insert", {"insert_line": 0}, "invalid_arguments", "text"),
        ("rethink", {}, "invalid_arguments", "content"),
        ("create", {"description": "d"}, "invalid_arguments", "content"),
        ("append", {"text": None}, "invalid_arguments", "text"),
        # wrong types
        ("append", {"text": 5}, "invalid_arguments", "text"),
        ("append", {"text": ["x"]}, "invalid_arguments", "text"),
        ("append", {"text": b"x"}, "invalid_arguments", "text"),
        ("core_memory_append", {"content": {"a": 1}}, "invalid_arguments", "text"),
        ("str_replace", {"old_str": 1, "new_str": "b"}, "invalid_arguments", "old_str"),
        ("str_replace", {"old_str": "a", "new_str": 3}, "invalid_arguments", "new_str"),
        ("insert", {"insert_line": True, "text": "x"}, "invalid_arguments", "insert_line"),
        ("insert", {"insert_line": False, "text": "x"}, "invalid_arguments", "insert_line"),
        ("insert", {"insert_line": "1", "text": "x"}, "invalid_arguments", "insert_line"),
        ("insert", {"insert_line": 1.0, "text": "x"}, "invalid_arguments", "insert_line"),
        ("memory_insert", {"new_str": "x", "insert_line": True}, "invalid_arguments",
         "insert_line"),
        ("memory_insert", {"new_str": "x", "insert_line": -1.0}, "invalid_arguments",
         "insert_line"),
        ("rethink", {"content": 1}, "invalid_arguments", "content"),
        ("create", {"content": "x", "description": 3}, "invalid_arguments", "description"),
        ("create", {"content": "x", "char_limit": "5"}, "invalid_arguments", "char_limit"),
        ("create", {"content": "x", "char_limit": True}, "invalid_arguments", "char_limit"),
        ("create", {"content": "x", "char_limit": 0}, "invalid_arguments", "char_limit"),
        ("create", {"content": "x", "char_limit": -5}, "invalid_arguments", "char_limit"),
        # empty where emptiness makes no edit
        ("append", {"text": ""}, "invalid_arguments", "text"),
        ("insert", {"insert_line": 0, "text": ""}, "invalid_arguments", "text"),
        ("str_replace", {"old_str": "", "new_str": "x"}, "invalid_arguments", "old_str"),
        ("memory_replace", {"old_str": "", "new_str": "x"}, "invalid_arguments", "old_str"),
        # unknown extras, including Letta's label (the block is named by the URL)
        ("append", {"text": "x", "label": "human"}, "invalid_arguments", "label"),
        ("memory_insert", {"new_str": "x", "label": "human"}, "invalid_arguments", "label"),
        ("rethink", {"content": "x", "reasoning": "why"}, "invalid_arguments", "reasoning"),
        ("append", {"text": "x", "insert_line": 1}, "invalid_arguments", "insert_line"),
        ("str_replace", {"old_str": "a", "new_str": "b", "text": "c"}, "invalid_arguments",
         "text"),
        ("rethink", {"content": "x", "text": "y"}, "invalid_arguments", "text"),
        # the same argument twice, under two names
        ("append", {"text": "x", "content": "y"}, "invalid_arguments", "text"),
        ("str_replace", {"old_str": "a", "old_string": "a", "new_str": "b"},
         "invalid_arguments", "old_str"),
        ("core_memory_replace", {"old_content": "a", "new_content": "b", "new_string": "c"},
         "invalid_arguments", "new_str"),
        ("insert", {"insert_line": 0, "insert_text": "x", "new_str": "y"},
         "invalid_arguments", "text"),
        ("rethink", {"content": "x", "new_memory": "y"}, "invalid_arguments", "content"),
        ("create", {"content": "x", "file_text": "y"}, "invalid_arguments", "content"),
    ],
)
def test_normalize_operation_errors(operation, arguments, code, field):
    with pytest.raises(EditError) as caught:
        normalize_operation(operation, arguments)
    assert caught.value.code == code
    if field is not None:
        assert caught.value.details == {"field": field}
    else:
        assert "operation" in caught.value.details
    assert caught.value.message


@pytest.mark.parametrize(
    ("operation", "arguments", "expected"),
    [
        ("core_memory_append", {"content": "d"}, "a\nb\nc\nd"),
        ("core_memory_replace", {"old_content": "b", "new_content": "B"}, "a\nB\nc"),
        ("memory_replace", {"old_str": "c", "new_str": "C"}, "a\nb\nC"),
        ("memory_str_replace", {"old_string": "a", "new_string": "A"}, "A\nb\nc"),
        ("memory_insert", {"new_str": "x", "insert_line": 1}, "a\nx\nb\nc"),
        ("memory_insert", {"new_str": "x"}, "a\nb\nc\nx"),
        ("memory_rethink", {"new_memory": "new"}, "new"),
        ("insert", {"insert_text": "x", "insert_line": 3}, "a\nb\nc\nx"),
    ],
)
def test_normalised_operations_apply(operation, arguments, expected):
    canonical, args = normalize_operation(operation, arguments)
    assert canonical in OPERATIONS
    assert apply_operation("a\nb\nc", canonical, args) == expected


def test_normalised_memory_create_applies_to_a_missing_block():
    assert apply_operation(None, *normalize_operation("memory_create", {"file_text": "hi"})) == "hi"


# --- EditError, helpers, unified_diff ----------------------------------------------------------

def test_edit_error_shape():
    error = EditError("old_str_not_unique", "twice", details={"lines": [1, 2]})
    assert (error.code, error.message, error.details) == ("old_str_not_unique", "twice",
                                                          {"lines": [1, 2]})
    assert str(error) == "twice"
    assert error.status == 400
    assert error.as_dict() == {"code": "old_str_not_unique", "message": "twice",
                               "details": {"lines": [1, 2]}}
    assert EditError("block_exists").status == 409
    assert EditError("old_str_not_found").message  # a default message
    assert EditError("old_str_not_found").details == {}


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ("", []),
        ("a", ["a"]),
        ("a\n", ["a\n"]),
        ("a\n\n", ["a\n", "\n"]),
        ("a\r\nb", ["a\r\n", "b"]),
        ("a\rb\x0bc\u2028d\x85e", ["a\rb\x0bc\u2028d\x85e"]),  # only \n ends a line
    ],
)
def test_split_lines(content, lines):
    assert split_lines(content) == lines
    assert "".join(lines) == content


@pytest.mark.parametrize(
    ("content", "eol"),
    [("", None), ("abc", None), ("a\nb", "\n"), ("a\r\nb", "\r\n"), ("a\r\nb\nc", "\n"),
     ("a\r\nb\r\nc\n", "\r\n"), ("a\rb", None)],
)
def test_dominant_line_ending(content, eol):
    assert dominant_line_ending(content) == eol


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("same\n", "same\n", ""),
        ("a\nb\n", "a\nc\n", "--- a/human\n+++ b/human\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"),
        ("", "new\n", "--- a/human\n+++ b/human\n@@ -0,0 +1 @@\n+new\n"),
        ("a\nb", "a\nc", "--- a/human\n+++ b/human\n@@ -1,2 +1,2 @@\n a\n"
                         "-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"),
        ("a\r\n", "b\r\n", "--- a/human\n+++ b/human\n@@ -1 +1 @@\n-a\r\n+b\r\n"),
        ("😀\n", "中文\n", "--- a/human\n+++ b/human\n@@ -1 +1 @@\n-😀\n+中文\n"),
    ],
)
def test_unified_diff(old, new, expected):
    assert unified_diff(old, new, "human") == expected


def test_unified_diff_keeps_three_lines_of_context():
    old = "".join(f"{n}\n" for n in range(1, 21))
    diff = unified_diff(old, old.replace("10\n", "ten\n"), "notes/目标")
    assert diff.startswith("--- a/notes/目标\n+++ b/notes/目标\n@@ -7,7 +7,7 @@\n")
    assert diff.count("\n ") == 6


def test_unified_diff_of_changes_deep_in_a_long_text_numbers_its_hunks_from_the_top():
    old = "".join(f"fact {n}\n" for n in range(1, 5001))
    new = old.replace("fact 2500\n", "fact 2500, amended\n").replace("fact 4990\n", "") + "fact 5001"
    assert unified_diff(old, new, "student").splitlines() == [
        "--- a/student", "+++ b/student",
        "@@ -2497,7 +2497,7 @@", " fact 2497", " fact 2498", " fact 2499", "-fact 2500",
        "+fact 2500, amended", " fact 2501", " fact 2502", " fact 2503",
        "@@ -4987,7 +4987,6 @@", " fact 4987", " fact 4988", " fact 4989", "-fact 4990", " fact 4991",
        " fact 4992", " fact 4993",
        "@@ -4998,3 +4997,4 @@", " fact 4998", " fact 4999", " fact 5000", "+fact 5001",
        "\\ No newline at end of file",
    ]


def test_unified_diff_of_an_append_to_a_block_of_repeated_lines_shows_only_the_end():
    old = "- likes chess\n" * 20_000
    diff = unified_diff(old, old + "- and go\n", "student")
    assert diff == ("--- a/student\n+++ b/student\n@@ -19998,3 +19998,4 @@\n"
                    " - likes chess\n - likes chess\n - likes chess\n+- and go\n")


# --- plan_approval: the approval rules, once -----------------------------------------------------

STUDENT = "Name: Maya\nGoal: essay\n"
REPLACE = {"operation": "str_replace", "arguments": {"old_str": "Maya", "new_str": "Maya Tran"},
           "proposed_content": "Name: Maya Tran\nGoal: essay\n", "base_version": 3}


def test_a_proposal_at_its_base_version_writes_the_proposed_text():
    plan = plan_approval(**REPLACE, block_version=3, block_content=STUDENT)
    assert plan == ApprovalPlan(content="Name: Maya Tran\nGoal: essay\n")


def test_a_block_that_moved_on_gets_the_operation_again_or_a_conflict():
    plan = plan_approval(**REPLACE, block_version=5, block_content="Goal: essay\nName: Maya\n")
    assert plan == ApprovalPlan(content="Goal: essay\nName: Maya Tran\n", rebased=True)
    plan = plan_approval(**REPLACE, block_version=5, block_content="Name: Sam\n")
    assert plan.content is None and not plan.rebased
    assert plan.conflict == ("block changed from version 3 to 5 and the edit no longer applies: "
                             "old_str does not occur in the block")


def test_a_deleted_block_is_a_conflict_even_with_edited_text():
    for edited in (None, "my text"):
        plan = plan_approval(**REPLACE, block_version=None, edited_content=edited)
        assert plan == ApprovalPlan(conflict="the block was deleted after the proposal")


def test_edited_text_is_written_as_it_is_whatever_the_version():
    assert plan_approval(**REPLACE, block_version=9, block_content="x", edited_content="mine") == \
        ApprovalPlan(content="mine")


def test_create_applies_unless_the_label_was_taken_meanwhile():
    create = {"operation": "create", "arguments": {"content": "- a book"}, "proposed_content": "- a book",
              "base_version": None}
    assert plan_approval(**create, block_version=None) == ApprovalPlan(content="- a book")
    assert plan_approval(**create, block_version=None, edited_content="- two") == ApprovalPlan(content="- two")
    assert plan_approval(**create, block_version=1, block_content="other") == \
        ApprovalPlan(conflict="a block with this label was created in the meantime")
