"""Train the line labeller from the seeds gold and the dev papers' manifest (`make train-parser`).

    python -m digest.parse.train --shared ../shared [--without 学习时报] [--out FILE]
                                 [--augment blank,markdown]

Every issue is learnt twice: as printed, and without its byline, author and dateline lines
(`cue_dropped`), so that a paper printing none of them above its headlines is still read.

Labels are derived per line, never stored: the manifest gives each article's character span
and where its body begins, the seeds gold gives each article's line span and its headline
parts. The data stays in ../shared; only the trained model goes into digest/data/.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
from collections import Counter
import re
import sys
from pathlib import Path

from .. import decode
from . import augment, context, rules
from . import lines as lines_mod

MODEL = Path(__file__).resolve().parent.parent / "data" / "parser.crfsuite"
SEEDS_PAPER = "东昌时讯"
# The layouts each training issue is also rendered in (`blank,markdown`, `epaper,blank,markdown`):
# off by default, because leave-one-paper-out did not improve with it (README, Training).
AUGMENT = os.environ.get("DIGEST_PARSER_AUGMENT", "")
PARAMS = {"c1": float(os.environ.get("DIGEST_CRF_C1", 0.05)),
          "c2": float(os.environ.get("DIGEST_CRF_C2", 0.05)), "max_iterations": 200,
          "feature.possible_transitions": True}


def _squash(text: str | None) -> str:
    return re.sub(r"[\W_]+", "", text or "")


def _deck_label(text: str, rec_k: str, rec_t: str, rec_s: str) -> str | None:
    s = _squash(text)
    if not s:
        return None
    if s == _squash(rec_t):
        return "T"
    if s == _squash(rec_k):
        return "K"
    if s == _squash(rec_s):
        return "S"
    return None


def _body_label(line: lines_mod.Line) -> str:
    return "B"


def _manifest_files(issues_dir: Path):
    """(file name, its manifest records in reading order, its text) for each dev issue."""
    by_file: dict[str, list[dict]] = {}
    with open(issues_dir / "MANIFEST.jsonl", encoding="utf-8") as f:
        for row in f:
            rec = json.loads(row)
            by_file.setdefault(rec["issue_file"], []).append(rec)
    for name, recs in sorted(by_file.items()):
        yield name, recs, (issues_dir / name).read_text(encoding="utf-8")


def manifest_examples(issues_dir: Path):
    """(paper, layout, name, lines, labels) for each dev issue."""
    for name, recs, raw in _manifest_files(issues_dir):
        starts = [0]
        for i, ch in enumerate(raw):
            if ch == "\n":
                starts.append(i + 1)
        lines = lines_mod.read_lines(decode.normalise_text(raw))
        by_no = {line.no: line for line in lines}
        labels = {line.no: "F" for line in lines}
        for rec in recs:
            first = bisect.bisect_right(starts, rec["char_start"])
            last = bisect.bisect_right(starts, max(rec["char_start"], rec["char_end"] - 1))
            body_no = bisect.bisect_right(starts, rec["body_start"])
            in_deck = False
            for no in range(first, last + 1):
                if no not in by_no:
                    continue
                if no < body_no:
                    label = _deck_label(by_no[no].text, rec["pretitle"], rec["title"],
                                        rec["subtitle"]) or "T"
                    in_deck = True
                else:
                    label = _body_label(by_no[no])
                    if not in_deck:
                        label, in_deck = "N", True
                labels[no] = label
        yield (recs[0]["paper"], recs[0]["layout"], name, lines,
               [labels[line.no] for line in lines])


_SPAN = re.compile(r"#(\d+) L(\d+)-L(\d+)")


def seeds_examples(gold_dir: Path, raw_dir: Path):
    for path in sorted(gold_dir.glob("*.json")):
        gold = json.loads(path.read_text(encoding="utf-8"))
        raw = (raw_dir / gold["file"]).read_text(encoding="utf-8")
        lines = lines_mod.read_lines(decode.normalise_text(raw))
        by_no = {line.no: line for line in lines}
        labels = {line.no: "F" for line in lines}
        spans = [(int(a), int(b)) for _, a, b in _SPAN.findall(gold["notes"][-1])]
        # a set-aside copy of a paragraph printed in place elsewhere: only the extra copies
        printed = Counter(line.raw for line in lines)
        listed = Counter(text.strip() for text in gold["non_article"])
        set_aside = {text for text, k in listed.items() if k >= printed[text]}
        for art, (first, last) in zip(gold["articles"], spans):
            in_deck = False
            for no in range(first, last + 1):
                if no not in by_no or by_no[no].raw in set_aside:
                    continue
                label = _deck_label(by_no[no].text, art["kicker"], art["title"],
                                    art["subtitle"])
                if label is None:
                    label = _body_label(by_no[no])
                    if not in_deck:
                        label = "N"
                in_deck = True
                labels[no] = label
        yield SEEDS_PAPER, "seeds", gold["file"], lines, [labels[line.no] for line in lines]


def _labelled(text: str, labels: list[str]) -> tuple[list, list[str]]:
    lines = lines_mod.read_lines(decode.normalise_text(text))
    if len(lines) != len(labels):
        raise ValueError(f"rendered {len(lines)} lines for {len(labels)} labels")
    return lines, labels


def manifest_issues(issues_dir: Path):
    """(paper, layout, name, augment.Issue) for each dev issue, from the manifest alone."""
    for name, recs, raw in _manifest_files(issues_dir):
        items = []
        for rec in recs:
            deck = tuple((key, rec[field].strip()) for key, field in
                         (("K", "pretitle"), ("T", "title"), ("S", "subtitle"))
                         if rec[field].strip())
            body = tuple(line.strip() for line in
                         raw[rec["body_start"]:rec["char_end"]].split("\n") if line.strip())
            if (rec["layout"] == "markdown" and not deck and body
                    and body[0].startswith("#")):
                body = (body[0].lstrip("# "),) + body[1:]
            items.append(augment.Article(deck=deck, body=body, page=rec["page"],
                                         section=rec.get("section") or ""))
        date = dt.date.fromisoformat(recs[0]["date"]) if recs[0].get("date") else None
        yield recs[0]["paper"], recs[0]["layout"], name, augment.Issue(
            paper=recs[0]["paper"], date=date, items=tuple(items))


def seeds_issue(lines, labels) -> augment.Issue:
    """A seeds issue as articles and furniture, from its derived line labels."""
    items: list = []
    deck: list[tuple[str, str]] = []
    body: list[str] = []

    def close() -> None:
        if deck or body:
            items.append(augment.Article(deck=tuple(deck), body=tuple(body)))
        deck.clear()
        body.clear()

    for line, label in zip(lines, labels):
        if label == "F":
            close()
            items.append(augment.Furniture(line.text))
        elif label in "KTS":
            if body or (deck and "KTS".index(label) <= "KTS".index(deck[-1][0])):
                close()
            deck.append((label, line.text))
        else:
            if label == "N":
                close()
            body.append(line.text)
    close()
    return augment.Issue(paper=None, date=None, items=tuple(items))


def augmented_examples(shared: Path, layouts=augment.LAYOUTS):
    """Every training issue also rendered in the layouts it was not printed in."""
    for paper, _layout, name, lines, labels in seeds_examples(shared / "gold" / "seeds",
                                                                shared / "seeds"):
        issue = seeds_issue(lines, labels)
        for layout in layouts:
            yield (paper, "as-" + layout, name, *_labelled(*augment.render(issue, layout)))
    for paper, layout, name, issue in manifest_issues(shared / "dev" / "issues"):
        for other in layouts:
            if other != layout:
                yield (paper, "as-" + other, name, *_labelled(*augment.render(issue, other)))


def _cue_line(line: lines_mod.Line) -> bool:
    """A line that names who wrote a story or where it was filed: a byline (`本报记者 张三`,
    `新华社记者`), an author's post (`（作者系…）`), a credit, a dateline or sign-off
    printed alone on its line."""
    text = line.text
    if len(text) > 60 or rules.ends_sentence(text) or rules._CLAUSE_PUNCT.search(text):
        return bool(lines_mod._AUTHOR.match(text)) and len(text) <= 80
    m = rules.match_dateline(text)
    return bool(rules._TOP_BYLINE.match(text) or rules._CREDIT.match(text)
                or lines_mod._has_author(text) or (m and len(text) <= len(m.text) + 2)
                or lines_mod._SIGN_OFF.fullmatch(text))


def cue_dropped(data):
    """Each issue again without its byline, author and dateline lines: papers differ in
    which of these cues they print at all (an essay paper prints none above a headline, a
    wire paper one above every story), so the labeller must also learn to find a story's
    start from what is left (the headline's shape, the change of subject)."""
    for paper, layout, name, lines, labels in data:
        kept_lines, kept_labels = [], []
        carry = False  # a dropped line opened an untitled story: the next line opens it
        for line, label in zip(lines, labels):
            if label in ("B", "N") and _cue_line(line):
                carry = carry or label == "N"
                continue
            if carry and label == "B":
                label = "N"
            carry = False
            kept_lines.append(line)
            kept_labels.append(label)
        if len(kept_lines) < len(lines):
            yield paper, "nocue-" + layout, name, kept_lines, kept_labels


def examples(shared: Path, augmented: str = AUGMENT):
    yield from seeds_examples(shared / "gold" / "seeds", shared / "seeds")
    yield from manifest_examples(shared / "dev" / "issues")
    layouts = [x for x in augmented.split(",") if x in augment.LAYOUTS]
    if layouts:
        yield from augmented_examples(shared, layouts)


def short_body(data):
    """Body lines a headline could be taken for (at most 40 characters, no full stop: a
    subhead, a one-line paragraph) relabelled `H`, a class of their own for the model."""
    for paper, layout, name, lines, labels in data:
        yield paper, layout, name, lines, [
            "H" if label == "B" and len(line.text) <= 40 and not rules.ends_sentence(line.text)
            else label for line, label in zip(lines, labels)]


def training_set(data) -> list:
    """The issues the model learns from: each as printed, and again without its cues."""
    data = list(data)
    return list(short_body(data + list(cue_dropped(data))))


def train(data, out: Path, params: dict | None = None) -> None:
    import pycrfsuite  # training only

    trainer = pycrfsuite.Trainer(verbose=False)
    for _paper, _layout, _name, lines, labels in data:
        trainer.append(context.features(lines), labels)
    trainer.set_params({**PARAMS, **(params or {})})
    out.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=MODEL)
    ap.add_argument("--without", default=None, help="leave this paper out (for LOPO)")
    ap.add_argument("--augment", default=AUGMENT,
                    help="also render every issue in these layouts (comma-separated)")
    args = ap.parse_args(argv)
    if not (args.shared / "dev" / "issues" / "MANIFEST.jsonl").is_file():
        print(f"train: no dev data under {args.shared} (give --shared)", file=sys.stderr)
        return 2
    data = training_set(ex for ex in examples(args.shared, args.augment)
                        if ex[0] != args.without)
    train(data, args.out)
    print(f"train: {len(data)} issues, model written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
