"""Shared by bench/parity.py and bench/bench.py: the seed articles, the reference run in
.venv-ref, and character-level ROUGE."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest import decode, parse  # noqa: E402
from digest.model import Article  # noqa: E402

SEEDS = ROOT / "seeds"
GOLD = ROOT / "tests" / "gold"
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
REF_SCRIPT = ROOT / "bench" / "ref_textrank4zh.py"
CACHE = ROOT / "bench" / "results" / "cache"
DEV = ROOT.parent / "shared" / "dev" / "issues"
_LETTERS = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def dev_bodies() -> Iterator[tuple[dict, str]]:
    """(manifest row, body text) of each dev-paper article with a body of 20 letters or more
    (the scorer's rule: photos, banners and 本期导读 left out), in manifest order."""
    files: dict[str, str] = {}
    with (DEV / "MANIFEST.jsonl").open(encoding="utf-8") as manifest:
        for line in manifest:
            row = json.loads(line)
            text = files.setdefault(row["issue_file"],
                                    (DEV / row["issue_file"]).read_text(encoding="utf-8"))
            body = text[row["body_start"]:row["char_end"]]
            if len(_LETTERS.findall(body)) >= 20:
                yield row, body


@dataclass(frozen=True)
class SeedArticle:
    id: str  # "<seed file stem>#<article index>"
    article: Article
    headline: str | None  # hand-checked title + subtitle from tests/gold, the ROUGE reference


def seed_articles() -> list[SeedArticle]:
    """Every article the parser finds in seeds/, with the gold headline when the gold file
    has an article at the same position with the same title."""
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        issue = parse.parse_issue(decode.read_issue_file(path))
        gold_file = GOLD / f"{path.stem}.json"
        gold = json.loads(gold_file.read_text("utf-8"))["articles"] if gold_file.is_file() else []
        for article in issue.articles:
            headline = None
            if article.index < len(gold):
                entry = gold[article.index]
                if entry["title"] and _same_title(entry["title"], article.title):
                    headline = " ".join(p for p in (entry["title"], entry["subtitle"]) if p)
            out.append(SeedArticle(f"{path.stem}#{article.index}", article, headline))
    return out


def _same_title(a: str | None, b: str | None) -> bool:
    squash = (lambda s: "".join((s or "").split()))
    return squash(a) == squash(b)


def repeated(items: Sequence, total: int) -> Iterable:
    """``items`` cycled until ``total`` have been yielded, lazily."""
    for i in range(total):
        yield items[i % len(items)]


def run_reference(texts: Iterable[tuple[str, str]], *args: str) -> list[dict]:
    """Run ref_textrank4zh.py in .venv-ref on (id, text) pairs; its JSON output lines."""
    if not REF_PYTHON.exists():
        sys.exit(f"{REF_PYTHON} is missing: run `make parity` or `make bench`, which create it")
    payload = "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                      for i, t in texts)
    done = subprocess.run([str(REF_PYTHON), str(REF_SCRIPT), "--cache-dir", str(CACHE), *args],
                          input=payload, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"textrank4zh reference failed:\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Character-level ROUGE (F1), on CJK characters, letters and digits only


def rouge_chars(text: str) -> list[str]:
    return [c for c in text if c.isalnum()]


def _ngrams(chars: Sequence[str], n: int) -> Counter:
    return Counter(tuple(chars[i:i + n]) for i in range(len(chars) - n + 1))


def _f1(overlap: float, candidate: int, reference: int) -> float:
    if overlap == 0 or candidate == 0 or reference == 0:
        return 0.0
    precision, recall = overlap / candidate, overlap / reference
    return 2 * precision * recall / (precision + recall)


def rouge_n(candidate: str, reference: str, n: int) -> float:
    c, r = _ngrams(rouge_chars(candidate), n), _ngrams(rouge_chars(reference), n)
    return _f1(sum((c & r).values()), sum(c.values()), sum(r.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    c, r = rouge_chars(candidate), rouge_chars(reference)
    return _f1(lcs_length(c, r), len(c), len(r))


def rouge(candidate: str, reference: str) -> tuple[float, float, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1."""
    return rouge_n(candidate, reference, 1), rouge_n(candidate, reference, 2), rouge_l(
        candidate, reference)


def rouge_1_recall(candidate: str, reference: str) -> float:
    c, r = _ngrams(rouge_chars(candidate), 1), _ngrams(rouge_chars(reference), 1)
    return sum((c & r).values()) / max(1, sum(r.values()))
