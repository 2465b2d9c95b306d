"""Stage 1: a received file's bytes -> normalised text, or a clear reason why not.

Papers arrive as UTF-8 (with or without BOM), GB18030/GBK, or UTF-16 with a BOM. The order
of attempts matters: a BOM is certain; strict UTF-8 almost never accepts text in another
encoding; GB18030 is tried before the statistical detector because short Chinese files are
where detectors guess wrong most. charset-normalizer is the last resort for anything else.

Normalisation keeps one output line per input line, so line numbers stay valid for the
parser's "every line ends up somewhere" accounting.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
import unicodedata
from pathlib import Path

from .model import DecodedText

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Share of replacement characters we accept in an otherwise valid UTF-8 file (a few bytes
# damaged in transit) before calling the file undecodable rather than silently mangled.
_MAX_DAMAGED = 0.001
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000\t]")
# C0/C1 controls other than tab and newline, the non-characters U+FFFE/U+FFFF and lone
# surrogates: none of them is text, and some would corrupt what later stages write.
# (NEL, U+0085, is a line break in some files: it becomes a space first.)
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
# A file is refused when fewer than this share of its Chinese lines read as Chinese.
_MIN_INTACT = 0.5


class DecodeError(Exception):
    """The file cannot become text; the message names the file and the reason."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


# control bytes no text file holds (tab, newline, form feed, carriage return and escape do)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


def _is_binary(data: bytes) -> bool:
    if b"\x00" in data:  # anywhere: an archive or image may start with text
        return True
    sample = data[:8192]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.01


def _cjk_share(text: str) -> float:
    letters = [c for c in text if not c.isspace()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if "\u4e00" <= c <= "\u9fff") / len(letters)


def _common_hanzi() -> frozenset[str]:
    """The 3,755 everyday characters (GB2312 level 1, first bytes 0xB0-0xD7).

    Text decoded with the wrong codec is still CJK, but rare CJK: `鏂板崕绀` for `新华社`.
    """
    chars = set()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return frozenset(chars)


_COMMON: re.Pattern | None = None  # a run of everyday characters, compiled when first needed
_NOT_HANZI = re.compile("[^\u4e00-\u9fff]+")
_SAMPLE_LINES = 3000  # enough to judge a file; keeps the check cheap on a 20 MB one


def garbage_reason(text: str, encoding: str) -> str | None:
    """Why a decoded text is nonsense rather than an issue, or None if it reads as text."""
    replaced = text.count("\ufffd")
    if replaced > max(8, 0.01 * len(text)):
        return (f"mostly undecodable: {replaced} replacement characters after decoding as "
                f"{encoding}")
    global _COMMON
    if _COMMON is None:
        _COMMON = re.compile("[" + "".join(sorted(_common_hanzi())) + "]+")
    common = _COMMON
    lines = text.split("\n")
    step = max(1, len(lines) // _SAMPLE_LINES)
    chinese = intact = 0
    for line in lines[::step]:
        # counted by the regex engine, a line at a time, not character by character
        hanzi = _NOT_HANZI.sub("", line[:200])
        if len(hanzi) < 5:
            continue
        chinese += 1
        uncommon = len(common.sub("", hanzi))
        intact += len(hanzi) - uncommon >= 0.6 * len(hanzi)
    if chinese >= 3 and intact < _MIN_INTACT * chinese:
        return (f"decodes as {encoding} to nonsense: {intact} of {chinese} lines read as "
                f"Chinese text (mixed or unknown encoding?)")
    return None


def decode_bytes(data: bytes, source: str) -> tuple[str, str]:
    """Return (text, encoding name) or raise DecodeError."""
    text, encoding = _decode_bytes(data, source)
    reason = garbage_reason(text, encoding)
    if reason:
        raise DecodeError(source, reason)
    return text, encoding


def _decode_bytes(data: bytes, source: str) -> tuple[str, str]:
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise DecodeError(source, "the file is empty")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError as exc:
                raise DecodeError(source, f"starts with a {encoding} byte-order mark but is not "
                                          f"valid {encoding} (byte {exc.start})") from None
    if _is_binary(data):
        raise DecodeError(source, "binary data (control bytes), not a text file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        if _cjk_share(text) > 0.3:
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    damaged = data.decode("utf-8", errors="replace")
    if damaged.count("\ufffd") <= max(1, len(damaged) * _MAX_DAMAGED):
        return damaged, "utf-8 (damaged bytes replaced)"
    from charset_normalizer import from_bytes  # imported late: only odd files need it

    best = from_bytes(data).best()
    if best is not None and best.encoding and _cjk_share(str(best)) > 0.3:
        return str(best), best.encoding
    raise DecodeError(source, "not decodable as UTF-8, GB18030 or UTF-16, and no other "
                              "encoding gives Chinese text")


def normalise_line(line: str) -> str:
    """Unify spaces, drop invisible and control characters, trim the end; keeps the line's
    words as printed and its indent (a full-width indent marks a paragraph for the parser)."""
    line = _NOT_TEXT.sub("", line.translate(_ZERO_WIDTH).replace("\x85", " "))
    body = line.lstrip()
    indent = "".join("\u3000" if c in "\u3000\t" else " " for c in line[:len(line) - len(body)])
    body = unicodedata.normalize("NFC", _SPACES.sub(" ", body)).rstrip()
    return indent + body if body else ""


# what `normalise_line` drops, for the whole text in one pass (NEL is a space by then)
_DROPPED = re.compile("[\u200b\u200c\u200d\u2060\ufeff\x00-\x08\x0b-\x1f\x7f-\x9f"
                      "\ufffe\uffff\ud800-\udfff]+")
_INDENTS: dict[str, str] = {}


def _indent(prefix: str) -> str:
    indent = _INDENTS.get(prefix)
    if indent is None:
        indent = "".join("\u3000" if c in "\u3000\t" else " " for c in prefix)
        if len(_INDENTS) < 256:
            _INDENTS[prefix] = indent
    return indent


def _layout_line(line: str) -> str:
    """`normalise_line` for a line whose dropped characters are gone and which is NFC."""
    body = line.lstrip()
    if not body:
        return ""
    indent = _indent(line[:len(line) - len(body)]) if len(body) != len(line) else ""
    return indent + _SPACES.sub(" ", body).rstrip()


def normalise_text(text: str) -> str:
    """`normalise_line` on every line, with the character-by-character passes (dropping,
    NFC) made once over the whole text: neither ever joins or splits lines, and NFC
    composes nothing with a space or a line break, so the result is the same."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", " ")
    text = unicodedata.normalize("NFC", _DROPPED.sub("", text))
    return "\n".join(map(_layout_line, text.split("\n")))


def decode_file_bytes(data: bytes, source: str, mtime: dt.datetime | None = None) -> DecodedText:
    text, encoding = decode_bytes(data, source)
    text = normalise_text(text)
    if not text.strip():
        raise DecodeError(source, "the file holds only blank lines")
    return DecodedText(text=text, encoding=encoding, sha256=hashlib.sha256(data).hexdigest(),
                       source=source, mtime=mtime)


def read_issue_file(path: Path | str) -> DecodedText:
    path = Path(path)
    try:
        data = path.read_bytes()
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    except IsADirectoryError:
        raise DecodeError(path.name, "is a folder, not a file") from None
    except OSError as exc:
        raise DecodeError(path.name, f"cannot be read ({exc.strerror})") from None
    return decode_file_bytes(data, path.name, mtime)
