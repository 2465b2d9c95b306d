"""An article's grouping words: what automatic themes count (see cluster.py), cut once.

Cutting a week's articles is a third of a 5,000-article build, and it is the same work every
time the week is built. So ingest cuts each article once, in its worker processes, and the
store keeps the words with a stamp of what cut them (tokenizer, its version, the user
dictionary); a build uses the stored words when the stamp matches its own config and cuts
the article again when not (an older store, a changed dictionary). Either way the words are
the same, so a week groups the same.

Only the filter that does not depend on the config is applied here (two characters or more,
a letter, no space); stopwords are the build's (`[text].stopwords` may change).

Pure functions over an article's fields; the tokenizer is passed in.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from .named import headline

TOKEN_CHARS = 1500  # body characters cut: news puts its subject first (see cluster.py)
STAMP_VERSION = "1"  # bump when grouping_text or the filter changes

WORD = re.compile(r"(?=.*[A-Za-z\u3400-\u4dbf\u4e00-\u9fff]).{2,}")
SPACE = re.compile(r"\s")


def grouping_text(article) -> str:
    """The headline deck and the body's first TOKEN_CHARS characters (an Article or a
    StoredArticle)."""
    return headline(article) + "\n" + "\n".join(article.paragraphs)[:TOKEN_CHARS]


def is_word(token: str) -> bool:
    """A token that can be a grouping word, whatever the config's stopwords."""
    return SPACE.search(token) is None and WORD.fullmatch(token) is not None


def grouping_words(article, tokenizer) -> str:
    """The article's candidate grouping words in text order, joined by spaces (no word holds
    one): the form the store keeps."""
    return " ".join(filter(is_word, tokenizer.cut(grouping_text(article))))


def split_words(joined: str) -> list[str]:
    return joined.split(" ") if joined else []


def words_stamp(text_config) -> str:
    """What the words of `text_config`'s tokenizer depend on, as a short hash."""
    user_dict = Path(text_config.user_dict) if text_config.user_dict else None
    key = user_dict and _file_key(user_dict)
    return _stamp(text_config.tokenizer, user_dict, key)


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None  # the tokenizer reports a missing dictionary; here it only stamps
    return status.st_mtime_ns, status.st_size


@functools.lru_cache(maxsize=8)
def _stamp(backend: str, user_dict: Path | None, key: tuple[int, int] | None) -> str:
    """`key` (the dictionary's mtime and size) only keys the cache: an edited dictionary is
    read again."""
    from ..text import tokenizer_id  # numpy and numba: only when words are cut or used

    used = user_dict if key is not None else None
    identity = f"{STAMP_VERSION}\0{TOKEN_CHARS}\0{tokenizer_id(backend, used)}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]
