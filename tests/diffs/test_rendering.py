"""diffs.rendering: side-by-side rows, word marks, escaping and collapsing. No database."""

import pytest
from django.utils.html import conditional_escape

from diffs.rendering import (
    MAX_INTRALINE_WORK,
    Html,
    Row,
    collapse,
    side_by_side,
    tokenize,
    word_diff,
)

SCRIPT = "<script>alert('x')</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


def shape(rows):
    return [(row.kind, row.left_no, row.right_no) for row in rows]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("", "", []),
        ("a\nb\n", "a\nb\n", [("equal", 1, 1), ("equal", 2, 2)]),
        ("a\n", "a\nb\n", [("equal", 1, 1), ("insert", None, 2)]),
        ("a\nb\n", "a\n", [("equal", 1, 1), ("delete", 2, None)]),
        ("", "x", [("insert", None, 1)]),
        ("x", "", [("delete", 1, None)]),
        ("a\nthe quick fox\nc\n", "a\nthe slow fox\nc\n", [("equal", 1, 1), ("replace", 2, 2), ("equal", 3, 3)]),
        # a replaced block pairs similar lines in order; the rest are deletes/inserts
        ("a\nthe quick fox\nc c c\nd\n", "a\nthe slow fox\nd\n",
         [("equal", 1, 1), ("replace", 2, 2), ("delete", 3, None), ("equal", 4, 3)]),
        ("a\nthe quick fox\n", "a\nthe slow fox\nY\nZ\n",
         [("equal", 1, 1), ("replace", 2, 2), ("insert", None, 3), ("insert", None, 4)]),
        # ... wherever they are in the block
        ("a\nX\nthe quick fox\n", "a\nthe slow fox\nY\n",
         [("equal", 1, 1), ("delete", 2, None), ("replace", 3, 2), ("insert", None, 3)]),
        # unrelated lines are never paired: whole-line delete + insert
        ("a\nb\nc\n", "a\nB\nc\n", [("equal", 1, 1), ("delete", 2, None), ("insert", None, 2), ("equal", 3, 3)]),
        # only the final newline differs: the last line is replaced
        ("a\nb", "a\nb\n", [("equal", 1, 1), ("replace", 2, 2)]),
        ("a\r\nb\r\n", "a\nb\r\n", [("replace", 1, 1), ("equal", 2, 2)]),
    ],
)
def test_side_by_side_rows(old, new, expected):
    assert shape(side_by_side(old, new)) == expected


def test_a_rethink_does_not_pair_unrelated_sentences_word_by_word():
    old = "She likes short essays.\nGoal: finish the bakery essay.\n"
    new = "Her drafts are too short for the prompt.\nGoal: finish the bakery essay by Friday.\n"
    rows = side_by_side(old, new)
    assert shape(rows) == [("delete", 1, None), ("insert", None, 1), ("replace", 2, 2)]
    assert rows[0].left_html == "She likes short essays." and "<del>" not in rows[0].left_html
    assert rows[1].right_html == "Her drafts are too short for the prompt."
    assert rows[2].right_html == "Goal: finish the bakery essay<ins> by Friday</ins>."


def test_big_replaced_blocks_pair_lines_in_order_when_similar():
    old = "".join(f"line number {i} says something\n" for i in range(80))
    new = "".join(f"line number {i} says something else\n" if i % 2 else f"unrelated {i}\n" for i in range(80))
    kinds = [row.kind for row in side_by_side(old, new)]
    assert kinds.count("replace") == 40 and kinds.count("delete") == 40 and kinds.count("insert") == 40


def test_side_by_side_html():
    rows = side_by_side("keep\nthe quick fox\ngone\n", "keep\nthe slow fox\n")
    assert [(row.left_html, row.right_html) for row in rows] == [
        ("keep", "keep"),
        ("the <del>quick</del> fox", "the <ins>slow</ins> fox"),
        ("gone", ""),
    ]
    assert all(isinstance(row.left_html, Html) and isinstance(row.right_html, Html)
               for row in rows)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"{SCRIPT}\n", f"{SCRIPT}\n"),  # equal
        ("a\n", f"a\n{SCRIPT}\n"),  # insert
        (f"a\n{SCRIPT}\n", "a\n"),  # delete
        (f"x {SCRIPT}\n", f"y {SCRIPT}\n"),  # replace, script unchanged
        ("x\n", f"{SCRIPT}\n"),  # replace, script inside <ins>
        (f"{SCRIPT}\n", "x\n"),  # replace, script inside <del>
        ("a\n", "a\n" + SCRIPT * 200),  # over the word-diff budget
    ],
)
def test_content_is_escaped(old, new):
    for row in side_by_side(old, new):
        for fragment in (row.left_html, row.right_html):
            assert "<script" not in fragment
            assert "</script" not in fragment
    rendered = "".join(row.left_html + row.right_html for row in side_by_side(old, new))
    assert ESCAPED_SCRIPT in rendered


@pytest.mark.parametrize(
    ("old", "new", "left", "right"),
    [
        ("the quick fox", "the slow fox", "the <del>quick</del> fox", "the <ins>slow</ins> fox"),
        # neighbouring changed words read as one change
        ("a quick brown fox", "a slow red fox", "a <del>quick brown</del> fox",
         "a <ins>slow red</ins> fox"),
        ("a fox", "a red fox", "a fox", "a <ins>red </ins>fox"),
        ("Goal: pass the exam in June", "Goal: pass the final exam in July",
         "Goal: pass the exam in <del>June</del>",
         "Goal: pass the <ins>final </ins>exam in <ins>July</ins>"),
        ("- [ ] Step 5", "- [x] Step 5", "- [<del> </del>] Step 5", "- [<ins>x</ins>] Step 5"),
        # a short match inside rewritten text is folded into one change
        ("the quick brown fox jumps over", "the slow red fox leaps over",
         "the <del>quick brown fox jumps</del> over", "the <ins>slow red fox leaps</ins> over"),
        ("x", "<b>", "<del>x</del>", "<ins>&lt;b&gt;</ins>"),
        ("a red fox", "a fox", "a <del>red </del>fox", "a fox"),
        ("same", "same", "same", "same"),
        ("", "new", "", "<ins>new</ins>"),
        ("x <b>", "x <i>", "x &lt;<del>b</del>&gt;", "x &lt;<ins>i</ins>&gt;"),
        ('say "hi" & go', 'say "yo" & go', "say &quot;<del>hi</del>&quot; &amp; go",
         "say &quot;<ins>yo</ins>&quot; &amp; go"),
        ("count 10 items", "count 12 items", "count <del>10</del> items",
         "count <ins>12</ins> items"),
        # scripts without spaces are compared character by character
        ("我喜欢猫", "我喜欢狗", "我喜欢<del>猫</del>", "我喜欢<ins>狗</ins>"),
        ("ひらがな", "ひらカナ", "ひら<del>がな</del>", "ひら<ins>カナ</ins>"),
        # what renders as one character is never split by a mark
        ("cafe\u0301 ok", "cafe ok", "<del>cafe\u0301</del> ok", "<ins>cafe</ins> ok"),
        ("hi 👨‍👩‍👧", "hi 👨‍👩‍👦", "hi <del>👨‍👩‍👧</del>", "hi <ins>👨‍👩‍👦</ins>"),
        ("ok 👍🏽", "ok 👍🏿", "ok <del>👍🏽</del>", "ok <ins>👍🏿</ins>"),
        ("flag 🇫🇷", "flag 🇫🇮", "flag <del>🇫🇷</del>", "flag <ins>🇫🇮</ins>"),
        # line endings are shown only where they differ
        ("a\r\n", "a\n", "a<del>␍␊</del>", "a<ins>␊</ins>"),
        ("a", "a\n", "a", "a<ins>␊</ins>"),
        ("a\r\n", "b\r\n", "<del>a</del>", "<ins>b</ins>"),
    ],
)
def test_word_diff(old, new, left, right):
    assert word_diff(old, new) == (left, right)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", []),
        ("hello, world", ["hello", ",", " ", "world"]),
        ("snake_case x2", ["snake_case", " ", "x2"]),
        ("a  \tb", ["a", "  \t", "b"]),
        ("中文ok", ["中", "文", "ok"]),
        ("cafe\u0301", ["cafe\u0301"]),
        ("e\u0301te\u0301", ["e\u0301te\u0301"]),
        ("👨‍👩‍👧!", ["👨‍👩‍👧", "!"]),
        ("👍🏽👍", ["👍🏽", "👍"]),
        ("🇫🇷🇩🇪🇮", ["🇫🇷", "🇩🇪", "🇮"]),
        ("1\ufe0f\u20e3", ["1\ufe0f\u20e3"]),  # keycap
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_long_lines_beyond_the_budget_are_marked_whole():
    old = " ".join(str(n) for n in range(1000))
    new = " ".join(str(n * 7) for n in range(1000))
    assert len(tokenize(old)) * len(tokenize(new)) > MAX_INTRALINE_WORK
    left, right = word_diff(old, new)
    assert left == "0 <del>" + old[2:] + "</del>"
    assert right == "0 <ins>" + new[2:] + "</ins>"


def test_one_word_changed_in_a_huge_line():
    old = "word " * 60_000
    new = old.replace("word word", "word WORD", 1)
    left, right = word_diff(old, new)
    assert left.count("<del>") == 1 and right == "word <ins>WORD</ins>" + " word" * 59_998 + " "


def rows_of(kinds):
    """Rows of the given kinds, numbered as if both sides had every line."""
    return [Row(kind, n, Html(f"l{n}"), n, Html(f"r{n}")) for n, kind in enumerate(kinds, 1)]


@pytest.mark.parametrize(
    ("kinds", "context", "expected"),
    [
        ("", 3, []),
        # nothing changed: one skip row
        ("eeeeeeeeee", 3, [("skip", 1, 10)]),
        # a change in the middle keeps 3 lines either side
        ("eeeeeeeeeeReeeeeeeeee", 3,
         [("skip", 1, 7), ("equal", 8, 0), ("equal", 9, 0), ("equal", 10, 0),
          ("replace", 11, 0), ("equal", 12, 0), ("equal", 13, 0), ("equal", 14, 0),
          ("skip", 15, 7)]),
        # a change on the first/last line: nothing to keep before/after it
        ("Ieeeeee", 3, [("insert", 1, 0), ("equal", 2, 0), ("equal", 3, 0), ("equal", 4, 0),
                        ("skip", 5, 3)]),
        ("eeeeeD", 3, [("skip", 1, 2), ("equal", 3, 0), ("equal", 4, 0), ("equal", 5, 0),
                       ("delete", 6, 0)]),
        # hiding a single line is not worth a skip row
        ("eeeeD", 3, [("equal", 1, 0), ("equal", 2, 0), ("equal", 3, 0), ("equal", 4, 0),
                      ("delete", 5, 0)]),
        ("ReeeeeeeR", 3, [("replace", 1, 0)] + [("equal", n, 0) for n in range(2, 9)]
         + [("replace", 9, 0)]),
        ("ReeeeeeeeR", 3, [("replace", 1, 0), ("equal", 2, 0), ("equal", 3, 0), ("equal", 4, 0),
                           ("skip", 5, 2), ("equal", 7, 0), ("equal", 8, 0), ("equal", 9, 0),
                           ("replace", 10, 0)]),
        ("eeeReee", 0, [("skip", 1, 3), ("replace", 4, 0), ("skip", 5, 3)]),
        ("RIDR", 3, [("replace", 1, 0), ("insert", 2, 0), ("delete", 3, 0), ("replace", 4, 0)]),
    ],
)
def test_collapse(kinds, context, expected):
    letters = {"e": "equal", "R": "replace", "I": "insert", "D": "delete"}
    rows = rows_of([letters[k] for k in kinds])
    assert [(row.kind, row.left_no, row.skipped) for row in collapse(rows, context)] == expected


def test_skip_rows_point_at_both_sides():
    rows = collapse(side_by_side("x\n" + "same\n" * 10, "same\n" * 10))
    assert shape(rows) == [("delete", 1, None), ("equal", 2, 1), ("equal", 3, 2),
                           ("equal", 4, 3), ("skip", 5, 4)]
    assert rows[-1].skipped == 7


def test_a_5000_line_block_renders_only_what_changed():
    old = "".join(f"line {n}: some <b>words</b> & more\n" for n in range(1, 5001))
    new = old.replace("line 10: some", "line 10: other").replace("line 4000:", "LINE 4000:")
    new += "a new last line\n"
    rows = side_by_side(old, new)
    assert len(rows) == 5001
    shown = collapse(rows)
    assert [row.kind for row in shown if row.kind != "equal"] == [
        "skip", "replace", "skip", "replace", "skip", "insert"]
    assert sum(row.skipped for row in shown) + sum(row.kind == "equal" for row in shown) == 4998
    changed = [row for row in shown if row.kind == "replace"]
    assert changed[0].left_html == "line 10: <del>some</del> &lt;b&gt;words&lt;/b&gt; &amp; more"
    assert changed[1].right_html.startswith("<ins>LINE</ins> 4000:")


def test_a_290_kb_block_with_one_edit():
    old = "".join(f"{n:06d} " + "x" * 52 + "\n" for n in range(5000))
    assert len(old) == 300_000
    new = old.replace("004321 ", "004321 changed ")
    shown = collapse(side_by_side(old, new))
    assert len(shown) == 9
    assert shown[4].right_html.startswith("004321 <ins>changed </ins>x")


def test_html_is_not_escaped_again_by_django_templates():
    left, right = word_diff("a <b>", "c <b>")
    assert conditional_escape(left) == "<del>a</del> &lt;b&gt;"
    assert conditional_escape(str(left)) != left


def test_the_page_budget_marks_later_pairs_whole_once_spent():
    import random

    from diffs.rendering import MAX_INTRALINE_WORK, MAX_PAIRING_WORK, WorkBudget

    rng = random.Random(3)
    line = lambda: "".join(rng.choice(".,;:!?-") for _ in range(300))  # noqa: E731
    count = 60
    assert count * count > MAX_PAIRING_WORK  # lines are compared in order (k with k)
    old = "".join(line() + "\n" for _ in range(count))
    new = "".join(line() + "\n" for _ in range(count))
    per_pair = 300 * 300
    assert per_pair < MAX_INTRALINE_WORK  # each pair alone would be compared and word-diffed
    rows = side_by_side(old, new, budget=WorkBudget(per_pair * 10))
    coarse = [row.coarse for row in rows]
    assert coarse[:5] == [False] * 5 and coarse[-5:] == [True] * 5
    assert coarse == sorted(coarse)  # once spent, every later pair is marked whole
    assert all(row.kind == "replace" and row.right_html.count("<ins>") == 1 for row in rows if row.coarse)
    # Unlimited, the same texts are compared throughout: nothing is marked whole.
    assert not any(row.coarse for row in side_by_side(old, new, budget=WorkBudget(10**12)))


def test_a_small_block_over_the_budget_is_paired_in_order_and_marked_whole():
    from diffs.rendering import WorkBudget

    old = "".join(f"{'.,;' * 100}{n}\n" for n in range(5))
    new = "".join(f"{';,.' * 100}{n}\n" for n in range(5))
    rows = side_by_side(old, new, budget=WorkBudget(1))
    assert [(row.kind, row.left_no, row.right_no, row.coarse) for row in rows] == [
        ("replace", n, n, True) for n in range(1, 6)]


def test_pairs_that_cost_nothing_never_spend_the_budget():
    from diffs.rendering import WorkBudget

    budget = WorkBudget(5)
    rows = side_by_side("a\nb\n", "a!\nb?\n", budget=budget)
    assert [row.coarse for row in rows] == [False, False]


def test_truncate_keeps_the_first_rows_and_counts_the_rest():
    from diffs.rendering import TRUNCATED, truncate

    rows = side_by_side("".join(f"{n}\n" for n in range(10)), "".join(f"{n}!\n" for n in range(10)))
    assert truncate(rows, limit=10) == rows
    cut = truncate(rows, limit=4)
    assert cut[:4] == rows[:4] and len(cut) == 5
    assert (cut[-1].kind, cut[-1].left_no, cut[-1].right_no, cut[-1].skipped) == (TRUNCATED, 5, 5, 6)
