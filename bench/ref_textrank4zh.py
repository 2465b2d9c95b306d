"""Runs inside .venv-ref (textrank4zh 0.3, networkx<3): the reference for parity and bench.

Reads JSON Lines {"id", "text"} on stdin. With --results, writes one line per article:
{"id", "sentences": [{"index", "text", "score"}] best first, "keywords": [...]}. With
--time, ranks every article (key sentences and keywords, as digest does) and writes one
summary line {"articles", "seconds", "sentences_seconds"}. Standard library and textrank4zh
only: this file must not import digest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time


def load_jieba(cache_dir: str) -> None:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    os.makedirs(cache_dir, exist_ok=True)
    jieba.dt.tmp_dir = cache_dir  # not the shared /tmp
    jieba.initialize()


def key_sentences(text: str, top: int):
    from textrank4zh import TextRank4Sentence

    ranker = TextRank4Sentence()
    ranker.analyze(text=text, lower=True, source="all_filters")
    return ranker, ranker.get_key_sentences(num=top, sentence_min_len=6)


def keywords(text: str, top: int):
    from textrank4zh import TextRank4Keyword

    ranker = TextRank4Keyword()
    ranker.analyze(text=text, lower=True, window=2)
    return ranker.get_keywords(num=top, word_min_len=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", action="store_true")
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--keywords", type=int, default=8)
    parser.add_argument("--cache-dir", required=True)
    args = parser.parse_args()
    load_jieba(args.cache_dir)
    articles = [json.loads(line) for line in sys.stdin if line.strip()]
    key_sentences("预热。", 1)  # first-call imports out of the timings
    if args.results:
        for article in articles:
            ranker, picked = key_sentences(article["text"], args.top)
            words = keywords(article["text"], args.keywords)
            print(json.dumps({
                "id": article["id"],
                "all_sentences": ranker.sentences,
                "sentences": [{"index": s.index, "text": s.sentence, "score": s.weight}
                              for s in picked],
                "keywords": [w.word for w in words]}, ensure_ascii=False), flush=True)
    if args.time:
        start = time.perf_counter()
        for article in articles:
            key_sentences(article["text"], args.top)
        sentences_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for article in articles:
            key_sentences(article["text"], args.top)
            keywords(article["text"], args.keywords)
        seconds = time.perf_counter() - start
        print(json.dumps({"articles": len(articles), "seconds": seconds,
                          "sentences_seconds": sentences_seconds}), flush=True)


if __name__ == "__main__":
    main()
