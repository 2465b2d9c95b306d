"""Parse cost per MB at 1, 5, 10 and 20 MB of issue text: the first MB of the seeds and (when
../shared is here) the dev papers concatenated, repeated to size, so every size has the same
mix of layouts; the parser is linear when the figure stays flat.

    python bench/parse_speed.py [--sizes 1,5,10,20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest import decode, parse  # noqa: E402


def corpus() -> str:
    paths = sorted((ROOT / "seeds").glob("*.txt"))
    paths += sorted((ROOT.parent / "shared" / "dev" / "issues").glob("*.txt"))
    return "\n\n".join(p.read_text(encoding="utf-8") for p in paths)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,5,10,20")
    args = ap.parse_args(argv)
    base = corpus().encode("utf-8")[:1024 * 1024].decode("utf-8", errors="ignore")
    parse.parse_text(decode.normalise_text(base[:20000]))  # load the model once
    print(f"{'MB':>5}{'lines':>10}{'decode s':>10}{'parse s':>10}{'parse s/MB':>12}")
    for mb in (float(x) for x in args.sizes.split(",")):
        want = int(mb * 1024 * 1024)
        text = base
        while len(text.encode("utf-8")) < want:
            text += "\n\n" + base
        data = text.encode("utf-8")[:want]
        text = data.decode("utf-8", errors="ignore")
        t0 = time.perf_counter()
        decoded = decode.decode_file_bytes(text.encode("utf-8"), "bench.txt")
        t1 = time.perf_counter()
        parsed = parse.parse_issue(decoded)
        t2 = time.perf_counter()
        assert parsed.articles
        print(f"{mb:>5g}{text.count(chr(10)):>10}{t1 - t0:>10.2f}{t2 - t1:>10.2f}"
              f"{(t2 - t1) / mb:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
