"""Work on a week's articles done beside same-story merging, in a second thread.

Merging spends most of its time in compiled loops that release the GIL (simjoin.py), so on
a machine with two cores a thread can do the per-article work the grouping needs next while
it runs: which named theme claims each article (named.claim_all, 0.7 s a week of 5,000
articles) and each article's grouping words as columns (stored words split and looked up,
0.7 s; an article without them is cut, 1.5 s for 5,000 with jieba-rs, which holds the GIL).

Every article is done, since which one leads its story is known only after merging.
`finish` stops the thread wherever it is; what it had not reached is done for the leads
afterwards (`claims_of`, cluster.word_counts). Results do not depend on how far it got: a
claim depends on its article alone, word columns are renamed in word order by
cluster.tfidf, and a word only non-leads use has no story.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..config import Config
from .named import claim_all, theme_rules
from .words import words_stamp

CLAIM_CHUNK = 256  # articles claimed per call: the thread checks for `finish` between them


class WeekAhead:
    def __init__(self, articles: Sequence, config: Config) -> None:
        from .cluster import new_columns

        self._articles = list(articles)
        self._config = config
        self.rules = theme_rules(config)
        self.stamp = words_stamp(config.text)
        self.column = new_columns(config)
        self.claims: dict[int, str | None] = {}  # id(article) -> the theme that claims it
        self.ready: dict[int, object] = {}  # id(article) -> its words' columns
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="digest-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .cluster import _tokenizer, columns_of, stored

        try:
            for at in range(0, len(self._articles), CLAIM_CHUNK):
                if self._stop.is_set():
                    return
                chunk = self._articles[at:at + CLAIM_CHUNK]
                self.claims.update(zip(map(id, chunk), claim_all(chunk, self.rules)))
            tokenizer = None
            for article in self._articles:
                if self._stop.is_set():
                    return
                if not stored(article, self.stamp):
                    tokenizer = tokenizer or _tokenizer(self._config)
                self.ready[id(article)] = columns_of(self.column, article, self.stamp,
                                                     tokenizer)
        except Exception:  # noqa: BLE001 - the caller redoes what is missing, and raises there
            return

    def finish(self) -> WeekAhead:
        self._stop.set()
        self._thread.join()
        return self

    def claims_of(self, articles: Sequence) -> list[str | None]:
        """The named theme claiming each article (after `finish`)."""
        missing = [a for a in articles if id(a) not in self.claims]
        if missing:
            self.claims.update(zip(map(id, missing), claim_all(missing, self.rules)))
        return [self.claims[id(a)] for a in articles]
