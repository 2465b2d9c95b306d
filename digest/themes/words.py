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

_LETTER = r"[A-Za-z\u3400-\u4dbf\u4e00-\u9fff]"
WORD = re.compile(rf"(?=.*{_LETTER}).{{2,}}")
SPACE = re.compile(r"\s")
# `is_word` over a cut joined by NUL, every token in one pass of the regex engine: a whole
# token (NUL or an end on both sides) of two characters or more, none a space, one a letter.
_WORD_TOKEN = re.compile(rf"(?<![^\0])(?=[^\0\s]*{_LETTER})[^\0\s]{{2,}}(?![^\0])")
_GLUED_BREAK = re.compile("[^\0]\n|\n[^\0]")  # a line break in a token of other characters


def grouping_text(article) -> str:
    """The headline deck and the body's first TOKEN_CHARS characters (an Article or a
    StoredArticle)."""
    return headline(article) + "\n" + "\n".join(article.paragraphs)[:TOKEN_CHARS]


@functools.lru_cache(maxsize=1 << 17)  # a week's tokens repeat: a lookup, not two regexes
def is_word(token: str) -> bool:
    """A token that can be a grouping word, whatever the config's stopwords."""
    return SPACE.search(token) is None and WORD.fullmatch(token) is not None


def grouping_words(article, tokenizer) -> str:
    """The article's candidate grouping words in text order, joined by spaces (no word holds
    one): the form the store keeps."""
    return " ".join(filter(is_word, tokenizer.cut(grouping_text(article))))


def grouping_words_from_cut(article, body_cut: str | None, tokenizer) -> str:
    """`grouping_words(article, tokenizer)`, taking the body's words from `body_cut`: a cut
    of the article's whole body made already (the ranker's: its tokens joined by NUL), so
    that only the headline and the paragraph TOKEN_CHARS ends in are cut again.

    jieba cuts the text between two line breaks without looking past them (it splits the
    text into runs of Han characters and letters first, and a line break is a token of its
    own), so the whole body's tokens up to a line break are the tokens a cut of the body's
    start gives. Where `body_cut` does not line up with the body that way (no cut given, or
    the ranker changed a character), the article is cut afresh."""
    body = "\n".join(article.paragraphs)
    stop = len(body) if len(body) <= TOKEN_CHARS else body.rfind("\n", 0, TOKEN_CHARS) + 1
    kept = _tokens_before(body_cut, body, stop) if body_cut is not None else None
    if kept is None:
        return grouping_words(article, tokenizer)
    words = list(filter(is_word, tokenizer.cut(headline(article))))
    words += _WORD_TOKEN.findall(kept)
    if stop < len(body):
        words += filter(is_word, tokenizer.cut(body[stop:TOKEN_CHARS]))
    return " ".join(words)


def _tokens_before(body_cut: str, body: str, stop: int) -> str | None:
    """The tokens of `body_cut` that make up `body[:stop]` (`stop` is 0, the body's length
    or just after a line break), joined by NUL as given, or None if they do not."""
    if stop == len(body):
        at = len(body_cut)
    else:
        at = 0
        for _ in range(body.count("\n", 0, stop)):
            at = body_cut.find("\n", at) + 1
            if at == 0:
                return None
        if at and at < len(body_cut) and body_cut[at] != "\0":
            return None  # a token goes on past the line break
    kept = body_cut[:at]
    if kept.replace("\0", "") != body[:stop] or _GLUED_BREAK.search(kept):
        return None
    return kept


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
