"""Stage: make any text safe to store and to print, in one place.

Text reaches us from newspaper files, file names and config.toml; it leaves as HTML, XML,
Markdown, plain text, email headers and log lines. Control characters break some of those
for good (XML 1.0 forbids ESC and VT, so one headline holding them makes feed.xml unreadable
by every reader) and let others forge lines (a newline in a file name). So:

- `clean(text)` removes what no output may carry: C0 controls except tab and newline, DEL,
  C1 controls (NEL becomes a space), U+FFFE/U+FFFF and lone surrogates. It is applied before storing and again to
  every rendered page, so a digest stored by an older version is cleaned when it is rebuilt.
- `shown(text)` is for a single line of a log or a report (file names above all): it keeps
  the text readable but writes every control character, line break and lone surrogate as a
  visible escape (`\\n`, `\\x1b`, `\\udcff`), so a name cannot start a line of its own.
"""

from __future__ import annotations

import re

# What XML 1.0 (and so Atom) forbids, plus DEL and C1, which no reader wants to see either.
# Tab and newline stay: they are layout in plain text and Markdown.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
# For one-line display: every control, every line break Python's splitlines() knows, the
# Unicode line/paragraph separators, lone surrogates (undecodable bytes of a file name).
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean(text: str) -> str:
    """`text` without the characters no output may hold (see the module docstring); NEL
    (U+0085), a line break in some encodings, becomes a space so words stay apart."""
    return _UNSAFE.sub(lambda m: " " if m.group(0) == "\x85" else "", text) if text else text


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean(text)


def _escape(match: re.Match) -> str:
    char = match.group(0)
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object) -> str:
    """One printable line: controls, line breaks and lone surrogates as visible escapes."""
    return _NOT_ONE_LINE.sub(_escape, str(text))
