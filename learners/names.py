"""How names are folded for search: pure functions, shared by the writer and the search.

A display name or email becomes a set of words: Unicode-decomposed, accents dropped, case
folded, split on anything that is not a letter or digit ("Sofía Ramírez-Núñez" → sofia,
ramirez, nunez; "maya.t@example.org" → maya, t, example, org). A search matches a learner when
every word of the query starts one of the learner's words. Scripts written without spaces
(Chinese, Japanese) also index every tail of a run ("王小明" → 王小明, 小明, 明), so a given name
finds its family name's owner.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORD_LENGTH = 64
MAX_WORDS = 40  # per learner; a pathological name cannot fill the table
# The highest code point: under a binary collation every word starting with a prefix sorts
# below prefix + this.
TOP = "\U0010ffff"

_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f"
_WORD = re.compile(r"[^\W_]+")
_UNSPACED_RUN = re.compile(f"[{_UNSPACED}]+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def name_words(*texts: str) -> set[str]:
    """The words under which a learner with these names is found."""
    words: set[str] = set()
    for text in texts:
        for word in _words(text or ""):
            words.add(word[:MAX_WORD_LENGTH])
            for run in _UNSPACED_RUN.findall(word):
                words.update(run[i:][:MAX_WORD_LENGTH] for i in range(1, len(run)))
    words.discard("")
    return set(sorted(words)[:MAX_WORDS])


def search_terms(query: str, limit: int = 4) -> list[str]:
    """The words of a query, longest first (the most selective narrows the search first)."""
    terms = {w[:MAX_WORD_LENGTH] for w in _words(query) if w}
    return sorted(terms, key=lambda w: (-len(w), w))[:limit]
