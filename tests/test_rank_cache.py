"""The IDF table's cache in the state folder: same values as jieba's idf.txt, rebuilt when
missing, stale or corrupt, written atomically; the tables `make` builds at install time
are read by a new state folder and give what building them gives."""

from __future__ import annotations

import numpy as np
import pytest

from digest.rank import lexicon
from digest.rank.lexicon import IdfTable, jieba_idf


@pytest.fixture(autouse=True)
def no_shipped_tables(tmp_path_factory, monkeypatch, request):
    """These tests are about the state folder's own cache: no install-time tables to fall
    back on, except in the test of those."""
    if "shipped" not in request.node.name:
        monkeypatch.setattr(lexicon, "SHIPPED_TABLES", tmp_path_factory.mktemp("none"))

WORDS = ["中国", "聊城", "东昌府区", "gdp", "", "zz\0qq", "不在表里的词语"]


def expected() -> np.ndarray:
    table, median = jieba_idf()
    return np.array([table.get(w, median) for w in WORDS])


def test_cached_table_gives_jieba_idf_values(tmp_path):
    built = IdfTable.load(tmp_path)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [f"idf-v{IdfTable.VERSION}.npz"]  # no temporary left
    loaded = IdfTable.load(tmp_path)  # from the file this time
    assert loaded is not built
    assert np.array_equal(built.lookup(WORDS), expected())
    assert np.array_equal(loaded.lookup(WORDS), expected())


def test_corrupt_or_stale_cache_is_rebuilt(tmp_path):
    IdfTable.load(tmp_path)
    cache = tmp_path / f"idf-v{IdfTable.VERSION}.npz"
    cache.write_bytes(b"not a zip file")
    assert np.array_equal(IdfTable.load(tmp_path).lookup(WORDS), expected())
    assert cache.read_bytes()[:2] == b"PK"  # rewritten
    with np.load(cache) as data:  # a stamp from another idf.txt: ignored, rebuilt
        arrays = {k: data[k] for k in data.files}
    arrays["stamp"] = arrays["stamp"] + 1
    arrays["values"] = np.zeros_like(arrays["values"])
    with cache.open("wb") as fh:
        np.savez(fh, **arrays)
    assert np.array_equal(IdfTable.load(tmp_path).lookup(WORDS), expected())


def test_unwritable_cache_folder_still_works(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert np.array_equal(IdfTable.load(blocker / "cache").lookup(WORDS), expected())


def test_one_word_lookup_is_dict_get(tmp_path):
    table, _ = jieba_idf()
    idf = IdfTable.load(tmp_path)
    assert [idf.get(w) for w in WORDS] == [table.get(w) for w in WORDS]


# --- the tagger's flags of the dictionary's words ---------------------------------------------

TAGGED = ["聊城", "东昌府区", "发展", "建在", "王彤宇", "GDP", "2022", "，"]


def test_dictionary_flags_are_the_taggers_and_are_cached(tmp_path):
    from digest.config import TextConfig
    from digest.rank.lexicon import DictionaryFlags
    from digest.text import make_tokenizer

    tag = make_tokenizer(TextConfig(tokenizer="rjieba"), tmp_path).tag
    built = DictionaryFlags.load(tmp_path, tag, "rjieba test")
    assert [f.name for f in tmp_path.iterdir()] == [f"flags-v{DictionaryFlags.VERSION}.npz"]
    loaded = DictionaryFlags.load(tmp_path, tag, "rjieba test")  # from the file
    assert loaded is not built and len(built.codes) > 300_000
    flags = built.flags(TAGGED)
    assert loaded.flags(TAGGED) == flags
    for word, flag in zip(TAGGED, flags):  # what it has is what tagging the word gives
        assert flag is None or tag(word) == [(word, flag)], word
    assert flags[:3] == [tag(w)[0][1] for w in TAGGED[:3]] and flags[4] is None  # 王彤宇: HMM
    cache = tmp_path / f"flags-v{DictionaryFlags.VERSION}.npz"
    cache.write_bytes(b"not a zip file")  # corrupt, or another tagger: rebuilt
    assert DictionaryFlags.load(tmp_path, tag, "rjieba test").flags(TAGGED) == flags
    assert DictionaryFlags.load(tmp_path, lambda text: [], "another").flags(TAGGED) == \
        [None] * len(TAGGED)


def test_shipped_tables_serve_a_new_state_and_match_a_build(tmp_path, monkeypatch):
    """`prebuild_tables` (run by `make`) writes the three tables; a new state folder then
    reads them instead of building its own, with the same values as a build from the
    dictionary; a stale shipped table (another stamp) is not used."""
    from digest.rank import prebuild_tables
    from digest.rank.lexicon import SHIPPED_NAMES

    shipped = tmp_path / "shipped"
    monkeypatch.setattr(lexicon, "SHIPPED_TABLES", shipped)
    prebuild_tables()
    assert sorted(p.name for p in shipped.iterdir()) == sorted(SHIPPED_NAMES)
    prebuild_tables()  # again over its own tables (`make` after a change): rebuilt, not read
    assert sorted(p.name for p in shipped.iterdir()) == sorted(SHIPPED_NAMES)
    state = tmp_path / "state"
    served = IdfTable.load(state)
    assert not state.exists()  # read from the shipped copy: nothing built, nothing written
    np.testing.assert_array_equal(served.lookup(WORDS), expected())
    monkeypatch.setattr(IdfTable, "VERSION", IdfTable.VERSION + 1)  # another stamp
    IdfTable.load(state)
    assert [p.name for p in state.iterdir()] == [f"idf-v{IdfTable.VERSION}.npz"]
