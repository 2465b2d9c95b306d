"""The trained line labeller (a linear-chain CRF, python-crfsuite), loaded once per process."""

from __future__ import annotations

import threading
from pathlib import Path

from .context import features
from .lines import Line

MODEL = Path(__file__).resolve().parent.parent / "data" / "parser.crfsuite"
# furniture, 引题, 标题, 副题, untitled start, body, and a short body line (an in-story subhead,
# a one-line paragraph): a class of its own in the model, so that what a headline shares with a
# subhead (short, no full stop) is not weighed against the long paragraphs; read as body.
LABELS = ("F", "K", "T", "S", "N", "B", "H")

_lock = threading.Lock()
_taggers: dict[Path, object] = {}


class ModelMissing(RuntimeError):
    """The shipped model file is gone: a broken install, not a bad issue file."""


def _tagger(path: Path):
    with _lock:
        tagger = _taggers.get(path)
        if tagger is None:
            import pycrfsuite

            if not path.is_file():
                raise ModelMissing(f"parser model {path} is missing: run `make train-parser`")
            tagger = pycrfsuite.Tagger()
            tagger.open(str(path))
            _taggers[path] = tagger
        return tagger


def label(lines: list[Line], model: Path | None = None) -> list[str]:
    """One label a line, the most likely sequence under the model."""
    if not lines:
        return []
    feats = features(lines)
    tagger = _tagger(model or MODEL)
    with _lock:  # a crfsuite Tagger is not safe to share between threads mid-call
        return ["B" if label == "H" else label for label in tagger.tag(feats)]
