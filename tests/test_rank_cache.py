"""The IDF table's cache in the state folder: same values as jieba's idf.txt, rebuilt when
missing, stale or corrupt, written atomically."""

from __future__ import annotations

import numpy as np

from digest.rank.lexicon import IdfTable, jieba_idf

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
