"""The tiny language model's training text: the Python documentation's topics.

``pydoc_data.topics`` ships with CPython (the text behind ``help("if")``): a few hundred
thousand characters of English about Python. Each topic is one document; documents are UTF-8
bytes (token ids 0-255) with the end-of-text id 256 after each. A seeded shuffle of the topic
names puts about 5 % of the bytes in a held-out set, the rest in the training set.
Standard library only.

    >>> from lesson.models.lm_corpus import load_corpus
    >>> corpus = load_corpus()                         # doctest: +SKIP
    >>> len(corpus.train_ids) > 10 * len(corpus.heldout_ids)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

EOS_ID = 256
VOCAB_SIZE = 257
HELDOUT_FRACTION = 0.05
SPLIT_SEED = 0


@dataclass(frozen=True)
class Corpus:
    """The split corpus: token streams (documents joined with EOS) and what went where."""

    train_ids: list[int]
    heldout_ids: list[int]
    heldout_topics: list[str]
    n_topics: int
    n_chars: int
    sha256: str

    def unigram_logprobs(self) -> list[float]:
        """log p(token) from training counts, add-one smoothed over all 257 ids."""
        counts = Counter(self.train_ids)
        total = len(self.train_ids) + VOCAB_SIZE
        return [math.log((counts.get(i, 0) + 1) / total) for i in range(VOCAB_SIZE)]

    def unigram_heldout_loss(self) -> float:
        """Cross-entropy (nats/token) of the unigram baseline on the held-out stream."""
        logp = self.unigram_logprobs()
        return -sum(logp[t] for t in self.heldout_ids) / len(self.heldout_ids)


def topic_documents() -> list[tuple[str, str]]:
    """``(topic, text)`` for every topic in ``pydoc_data.topics``, sorted by topic name."""
    from pydoc_data.topics import topics

    return sorted(topics.items())


def to_stream(texts: Sequence[str]) -> list[int]:
    """Documents as one token stream: each document's UTF-8 bytes, then EOS."""
    ids: list[int] = []
    for text in texts:
        ids.extend(text.encode("utf-8"))
        ids.append(EOS_ID)
    return ids


def load_corpus(seed: int = SPLIT_SEED, heldout_fraction: float = HELDOUT_FRACTION) -> Corpus:
    """Split the topics into training and held-out documents (deterministic given ``seed``)."""
    docs = topic_documents()
    digest = hashlib.sha256()
    for name, text in docs:
        digest.update(name.encode("utf-8") + b"\0" + text.encode("utf-8") + b"\0")
    total = sum(len(text.encode("utf-8")) + 1 for _, text in docs)
    order = [name for name, _ in docs]
    random.Random(seed).shuffle(order)
    by_name = dict(docs)
    heldout: list[str] = []
    size = 0
    for name in order:
        if size >= heldout_fraction * total:
            break
        heldout.append(name)
        size += len(by_name[name].encode("utf-8")) + 1
    held = set(heldout)
    heldout_sorted = sorted(held)
    return Corpus(
        train_ids=to_stream([text for name, text in docs if name not in held]),
        heldout_ids=to_stream([by_name[name] for name in heldout_sorted]),
        heldout_topics=heldout_sorted,
        n_topics=len(docs),
        n_chars=sum(len(text) for _, text in docs),
        sha256=digest.hexdigest(),
    )
