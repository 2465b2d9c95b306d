"""Decode and parse cost per MB at 1, 5, 10 and 20 MB of issue text: the first MB of the seeds
and (when ../shared is here) the dev papers concatenated, repeated to size, so every size has
the same mix of layouts; the parser is linear when the figure stays flat.

    python bench/parse_speed.py [--sizes 1,5,10,20] [--code DIR]

Wall seconds, and CPU seconds (process time: what a busy machine does not inflate) by stage:
decoding, the line features (`digest.parse.context.features`), the CRF tagging, and the rest
(reading lines, the rules, assembling articles). `--code DIR` times another checkout's
`digest` (e.g. `--code ../main`) on the same text, for a before/after side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def corpus() -> str:
    paths = sorted((ROOT / "seeds").glob("*.txt"))
    paths += sorted((ROOT.parent / "shared" / "dev" / "issues").glob("*.txt"))
    return "\n\n".join(p.read_text(encoding="utf-8") for p in paths)


class StageClock:
    """CPU seconds spent in the feature pass and in the whole labelling call, by wrapping
    the two functions the parser calls (no change to the parser itself)."""

    def __init__(self, tagger_module, parse_module):
        self.features = self.label = 0.0
        features, label = tagger_module.features, parse_module.tagger.label

        def timed_features(*args, **kwargs):
            t = time.process_time()
            try:
                return features(*args, **kwargs)
            finally:
                self.features += time.process_time() - t

        def timed_label(*args, **kwargs):
            t = time.process_time()
            try:
                return label(*args, **kwargs)
            finally:
                self.label += time.process_time() - t

        tagger_module.features = timed_features
        parse_module.tagger.label = timed_label

    def reset(self) -> None:
        self.features = self.label = 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,5,10,20")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="the checkout whose digest package is timed (default: this one)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.code.resolve()))
    from digest import decode, parse  # noqa: E402
    from digest.parse import tagger

    clock = StageClock(tagger, parse)
    base = corpus().encode("utf-8")[:1024 * 1024].decode("utf-8", errors="ignore")
    parse.parse_text(decode.normalise_text(base[:20000]))  # load the model once
    print(f"code: {Path(parse.__file__).resolve().parent.parent.parent}")
    print(f"{'':>15}{'wall s/MB':>20}{'CPU s/MB':>46}")
    print(f"{'MB':>5}{'lines':>10}{'decode':>10}{'parse':>10}{'decode':>10}{'parse':>9}"
          f"{'features':>10}{'CRF':>8}{'rest':>8}{'total':>10}")
    for mb in (float(x) for x in args.sizes.split(",")):
        want = int(mb * 1024 * 1024)
        text = base
        while len(text.encode("utf-8")) < want:
            text += "\n\n" + base
        data = text.encode("utf-8")[:want]
        text = data.decode("utf-8", errors="ignore")
        data = text.encode("utf-8")
        clock.reset()
        w0, c0 = time.perf_counter(), time.process_time()
        decoded = decode.decode_file_bytes(data, "bench.txt")
        w1, c1 = time.perf_counter(), time.process_time()
        parsed = parse.parse_issue(decoded)
        w2, c2 = time.perf_counter(), time.process_time()
        assert parsed.articles
        crf = clock.label - clock.features
        rest = (c2 - c1) - clock.label
        print(f"{mb:>5g}{text.count(chr(10)):>10}{(w1 - w0) / mb:>10.3f}{(w2 - w1) / mb:>10.3f}"
              f"{(c1 - c0) / mb:>10.3f}{(c2 - c1) / mb:>9.3f}{clock.features / mb:>10.3f}"
              f"{crf / mb:>8.3f}{rest / mb:>8.3f}{(c2 - c0) / mb:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
