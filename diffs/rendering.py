"""Side-by-side HTML diff rows for the admin (design.md §6), pure Python on top of difflib.

`side_by_side(old, new)` gives one `Row` per displayed line pair; `collapse(rows)` folds long
unchanged stretches into "skip" rows so a 290 KB block shows only what changed; `truncate(rows)`
stops a page at MAX_ROWS rows. The word diffs of one page have a work budget (MAX_PAGE_WORK).
All text is HTML-escaped here; the only markup produced is <del>/<ins> around changed words (and a visible
line-ending mark when only the line ending differs). The html fields are `Html` strings, which
Django templates (and markupsafe) render without escaping them again.
"""

from __future__ import annotations

import difflib
import html
import re
import unicodedata
from dataclasses import dataclass

from .edits import split_lines

EQUAL, REPLACE, INSERT, DELETE, SKIP, TRUNCATED = "equal", "replace", "insert", "delete", "skip", "truncated"
# Rows one page shows at most (after collapse); past them, one TRUNCATED row says how many more.
# 12,000 rows of a 1 MB rewrite were 1.5 s of template rendering and 9 MB of HTML to read for
# nobody: the full text is in the review page's edit box.
MAX_ROWS = 2_000

# Word-level diffs are quadratic in the worst case: past this many (tokens x tokens) in the
# part of a line pair that differs, the whole differing part is marked instead.
MAX_INTRALINE_WORK = 250_000
# The same bound for a whole page: once the word diffs of a page, and the similarity checks that
# pair the lines of replaced blocks, add up to this much (tokens x tokens) work, the remaining
# lines are paired in order and their changed spans marked whole. Measured: 2,500 pairs of
# 400-character punctuation lines (a 1 MB rethink) took 5.7 s without it; difflib does 30-70
# million units a second here, so this costs at most about 0.15 s.
MAX_PAGE_WORK = 5_000_000
# Two lines of a replaced block are shown side by side with word marks only when at least this
# share of their words match (difflib's ratio over the non-space tokens); otherwise the old line
# is a whole-line delete and the new one a whole-line insert: marking "short" unchanged between
# two unrelated sentences of a rethink misleads more than it helps.
PAIR_CUTOFF = 0.5
# Line pairs compared to find similar lines in one replaced block; beyond it, lines are only
# compared in order (line k with line k).
MAX_PAIRING_WORK = 2_500

# Characters of scripts written without spaces become tokens of their own (so one changed
# character in a Chinese sentence does not mark the whole sentence).
_UNSPACED = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff"  # radicals, kana, bopomofo
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # CJK ideographs
)
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+|\s+|.", re.DOTALL)
_WORD_START = re.compile(rf"[^\W{_UNSPACED}]")
_ZWJ = "\u200d"


class Html(str):
    """Text that is already safe HTML (the `__html__` protocol Django and markupsafe honour)."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


@dataclass(frozen=True, slots=True)
class Row:
    """One line pair. Numbers are 1-based, None where a side has no line.

    A "skip" row stands for `skipped` unchanged lines starting at left_no/right_no.
    """

    kind: str
    left_no: int | None
    left_html: Html
    right_no: int | None
    right_html: Html
    skipped: int = 0
    # A replaced pair whose changed span is marked as a whole, not word by word (too much work).
    coarse: bool = False


_EMPTY = Html("")


class WorkBudget:
    """How much word-diff work one page may still do (see MAX_PAGE_WORK)."""

    def __init__(self, units: int | None = None):
        self.left = MAX_PAGE_WORK if units is None else units

    def spend(self, units: int) -> bool:
        """Take `units` if there are that many left; False (and nothing taken) otherwise."""
        if units > self.left:
            self.left = 0  # once one pair is refused, the rest are too: no patchwork of marks
            return False
        self.left -= units
        return True


def side_by_side(old: str, new: str, budget: WorkBudget | None = None) -> list[Row]:
    """Every line of both texts, aligned. In a replaced block, similar lines are paired (in
    order) and word-diffed; the others are whole-line deletes and inserts. Once the page's work
    budget is spent, lines are paired in order and their changed spans marked whole."""
    budget = WorkBudget() if budget is None else budget
    a, b = split_lines(old), split_lines(new)
    rows: list[Row] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag == "equal":
            rows.extend(
                Row(EQUAL, i + 1, _escape_line(a[i]), j + 1, _escape_line(b[j]))
                for i, j in zip(range(i1, i2), range(j1, j2))
            )
            continue
        pairs = _similar_pairs(a, b, i1, i2, j1, j2, budget) if tag == "replace" else []
        i, j = i1, j1
        for pi, pj in [*pairs, (i2, j2)]:
            rows.extend(Row(DELETE, k + 1, _escape_line(a[k]), None, _EMPTY) for k in range(i, pi))
            rows.extend(Row(INSERT, None, _EMPTY, k + 1, _escape_line(b[k])) for k in range(j, pj))
            if pi < i2:
                left, right, coarse = _word_diff(a[pi], b[pj], budget)
                rows.append(Row(REPLACE, pi + 1, left, pj + 1, right, coarse=coarse))
            i, j = pi + 1, pj + 1
    return rows


def _words_of(line: str) -> list[str]:
    return [t for t in tokenize(_split_eol(line)[0]) if not t.isspace()]


class _OverBudget(Exception):
    pass


def _similarity(a_words: list[str], b_words: list[str], budget: WorkBudget) -> float:
    """difflib's ratio of two lines' words; _OverBudget when the page cannot afford it."""
    if not a_words and not b_words:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a_words, b_words, autojunk=False)
    if matcher.real_quick_ratio() < PAIR_CUTOFF or matcher.quick_ratio() < PAIR_CUTOFF:
        return 0.0  # linear checks: free
    if not budget.spend(len(a_words) * len(b_words)):
        raise _OverBudget
    return matcher.ratio()


def _in_order(i1, i2, j1, j2) -> list[tuple[int, int]]:
    return [(i1 + k, j1 + k) for k in range(min(i2 - i1, j2 - j1))]


def _similar_pairs(a, b, i1, i2, j1, j2, budget: WorkBudget) -> list[tuple[int, int]]:
    """(i, j) line pairs of a replaced block that are similar enough to word-diff, in order.

    Like difflib's own "fancy replace": the most similar pair splits the block, and the parts
    before and after it are paired the same way. Once the page's budget is spent, the rest is
    paired in order (and, the budget being spent, marked whole by _word_diff).
    """
    if (i2 - i1) * (j2 - j1) > MAX_PAIRING_WORK:
        pairs = []
        for i, j in _in_order(i1, i2, j1, j2):
            try:
                similar = _similarity(_words_of(a[i]), _words_of(b[j]), budget) >= PAIR_CUTOFF
            except _OverBudget:
                similar = True
            if similar:
                pairs.append((i, j))
        return pairs
    a_words = [_words_of(a[i]) for i in range(i1, i2)]
    b_words = [_words_of(b[j]) for j in range(j1, j2)]
    try:
        score = [[_similarity(x, y, budget) for y in b_words] for x in a_words]
    except _OverBudget:
        return _in_order(i1, i2, j1, j2)

    def pairs(lo_i, hi_i, lo_j, hi_j):
        best, at = PAIR_CUTOFF, None
        for i in range(lo_i, hi_i):
            for j in range(lo_j, hi_j):
                if score[i][j] > best or (at is None and score[i][j] >= best):
                    best, at = score[i][j], (i, j)
        if at is None:
            return []
        i, j = at
        return [*pairs(lo_i, i, lo_j, j), (i1 + i, j1 + j), *pairs(i + 1, hi_i, j + 1, hi_j)]

    return pairs(0, i2 - i1, 0, j2 - j1)


def collapse(rows: list[Row], context: int = 3) -> list[Row]:
    """Fold each run of equal rows to `context` rows either side of a change.

    A run is folded only when that hides more than one line (a skip row is a line too).
    """
    result: list[Row] = []
    start = 0
    while start < len(rows):
        if rows[start].kind != EQUAL:
            result.append(rows[start])
            start += 1
            continue
        end = start
        while end < len(rows) and rows[end].kind == EQUAL:
            end += 1
        keep_head = context if start > 0 else 0
        keep_tail = context if end < len(rows) else 0
        if end - start - keep_head - keep_tail > 1:
            first_hidden = rows[start + keep_head]
            result.extend(rows[start:start + keep_head])
            result.append(Row(SKIP, first_hidden.left_no, _EMPTY, first_hidden.right_no, _EMPTY,
                              skipped=end - start - keep_head - keep_tail))
            result.extend(rows[end - keep_tail:end])
        else:
            result.extend(rows[start:end])
        start = end
    return result


def truncate(rows: list[Row], limit: int = MAX_ROWS) -> list[Row]:
    """The first `limit` rows, then one TRUNCATED row (`skipped` = rows left out) if any were."""
    if len(rows) <= limit:
        return rows
    first_left = next((r.left_no for r in rows[limit:] if r.left_no is not None), None)
    first_right = next((r.right_no for r in rows[limit:] if r.right_no is not None), None)
    return [*rows[:limit], Row(TRUNCATED, first_left, _EMPTY, first_right, _EMPTY, skipped=len(rows) - limit)]


def word_diff(old_line: str, new_line: str) -> tuple[Html, Html]:
    """Both lines as HTML, changed words in <del> (left) and <ins> (right)."""
    left, right, _ = _word_diff(old_line, new_line, None)
    return left, right


def _word_diff(old_line: str, new_line: str, budget: WorkBudget | None) -> tuple[Html, Html, bool]:
    """word_diff, and whether the changed span was marked whole (over the line's or the page's
    budget) instead of word by word."""
    old_text, old_eol = _split_eol(old_line)
    new_text, new_eol = _split_eol(new_line)
    a, b = tokenize(old_text), tokenize(new_text)

    # Most edits touch a few words of a line: diff only what lies between the common ends.
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    mid_a, mid_b = a[prefix:len(a) - suffix], b[prefix:len(b) - suffix]

    left, right = [_escape_tokens(a[:prefix])], [_escape_tokens(b[:prefix])]
    work = len(mid_a) * len(mid_b)
    coarse = work > MAX_INTRALINE_WORK or (budget is not None and not budget.spend(work))
    if coarse:
        left.append(_mark("del", mid_a))
        right.append(_mark("ins", mid_b))
    else:
        matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        for tag, i1, i2, j1, j2 in _merge_small_equalities(matcher.get_opcodes(), mid_a, mid_b):
            if tag == "equal":
                left.append(_escape_tokens(mid_a[i1:i2]))
                right.append(_escape_tokens(mid_b[j1:j2]))
            else:
                left.append(_mark("del", mid_a[i1:i2]))
                right.append(_mark("ins", mid_b[j1:j2]))
    left.append(_escape_tokens(a[len(a) - suffix:]))
    right.append(_escape_tokens(b[len(b) - suffix:]))

    if old_eol != new_eol:
        left.append(_mark("del", [_EOL_SYMBOLS[old_eol]]))
        right.append(_mark("ins", [_EOL_SYMBOLS[new_eol]]))
    return Html("".join(left)), Html("".join(right)), coarse


def _merge_small_equalities(opcodes, a, b):
    """Fold an unchanged stretch between two changes into them when it is no longer (in
    characters) than either change: "<del>a</del> <del>b</del>", or one letter that happens to
    match inside a rewritten line, reads worse than a single change."""
    def size(op):
        _, i1, i2, j1, j2 = op
        return max(sum(map(len, a[i1:i2])), sum(map(len, b[j1:j2])))

    merged = []
    last = len(opcodes) - 1
    for k, op in enumerate(opcodes):
        tag, i1, i2, j1, j2 = op
        # Equal opcodes never follow each other, so an inner one sits between two changes.
        changed = tag != "equal" or (
            0 < k < last and size(op) <= min(size(merged[-1]), size(opcodes[k + 1]))
        )
        if changed and merged and merged[-1][0] == "replace":
            merged[-1] = ("replace", merged[-1][1], i2, merged[-1][3], j2)
        else:
            merged.append(("replace" if changed else "equal", i1, i2, j1, j2))
    return merged


def tokenize(text: str) -> list[str]:
    """Words, runs of whitespace and single other characters, never splitting what renders as
    one character: combining marks, emoji ZWJ sequences, skin tones and flags stay together."""
    if text.isascii():  # nothing to glue (and the common case, so worth the shortcut)
        return _TOKEN.findall(text)
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        if tokens and (_continues(token[0]) or tokens[-1].endswith(_ZWJ)
                       or _completes_flag(tokens[-1], token)
                       # two word tokens in a row were split by a mark: one word again
                       or (_WORD_START.match(token) and _WORD_START.match(tokens[-1]))):
            tokens[-1] += token
        else:
            tokens.append(token)
    return tokens


def _continues(char: str) -> bool:
    """Does `char` belong to the character before it (a mark, joiner, selector, modifier)?"""
    return (
        unicodedata.category(char).startswith("M")
        or char == _ZWJ
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones
        or "\U000e0020" <= char <= "\U000e007f"  # tag characters (subdivision flags)
    )


def _is_regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _completes_flag(previous: str, token: str) -> bool:
    # A flag is a pair of regional indicators; a third one starts the next flag.
    return len(previous) == 1 and _is_regional(previous) and _is_regional(token[0])


_EOL_SYMBOLS = {"\r\n": "␍␊", "\n": "␊", "": ""}


def _split_eol(line: str) -> tuple[str, str]:
    for eol in ("\r\n", "\n"):
        if line.endswith(eol):
            return line[:-len(eol)], eol
    return line, ""


def _escape_line(line: str) -> Html:
    return Html(html.escape(_split_eol(line)[0]))


def _escape_tokens(tokens: list[str]) -> str:
    return html.escape("".join(tokens))


def _mark(tag: str, tokens: list[str]) -> str:
    text = "".join(tokens)
    return f"<{tag}>{html.escape(text)}</{tag}>" if text else ""
