"""Folding names into search words (pure functions)."""

from learners.names import name_words, search_terms


def test_names_fold_case_and_accents_and_split_on_punctuation():
    assert name_words("Sofía Ramírez-Núñez") == {"sofia", "ramirez", "nunez"}
    assert name_words("Maya Thompson", "maya.t@example.org") == {"maya", "thompson", "t", "example", "org"}
    assert name_words("ÉLODIE  Martin") == {"elodie", "martin"}
    assert name_words("") == set() and name_words("  --  ") == set()


def test_unspaced_scripts_are_found_by_any_tail():
    assert name_words("王小明 (Xiaoming Wang)") == {"王小明", "小明", "明", "xiaoming", "wang"}


def test_search_terms_are_folded_and_longest_first():
    assert search_terms("  Ramírez  sof ") == ["ramirez", "sof"]
    assert search_terms("a b c d e f") == ["a", "b", "c", "d"]
    assert search_terms("!!") == []
