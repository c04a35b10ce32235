"""Signatures: the part of the shared text representation that says "the same problem".

Repeat detection (``routing.repeats``) and hot-issue mining (``routing.hotissues``)
compare messages by the cosine of their signatures. A signature is built from the
tokens of ``routing.intelligence.text`` (same normalisation, same hashed columns as
the classifier): the ``w:`` jieba words, counted twice, and the ``c:`` character
bigrams, which match place names the segmenter cuts differently in two messages;
the head's bigrams count again (citizens name their problem first). Weighted by
sublinear tf × idf and cut to the ``TOP_TERMS`` strongest columns, L2-normalised.

Words and bigrams are taken from the first ``WORD_CHARS`` characters, the words without jieba's HMM
for unknown words (the bigrams cover what it would find), by ``rjieba`` (jieba's
algorithm and dictionary in Rust: the same words as ``jieba.lcut(..., HMM=False)``,
checked on every shipped message by a test, thirteen times faster), and many
signatures are computed on other cores while an import clusters the ones before
(``signature_batches``).

The idf comes from the real messages shipped as the classifier's bootstrap: the
same in every process, and it knows that 小区 and 反映 say little.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import rjieba

from routing.intelligence import text as rep

TOP_TERMS = 96
WORD_WEIGHT = 2
WORD_CHARS = 600  # words and bigrams of the first 600 characters: the problem is named first, and tokens are the cost


def tokens(title: str, body: str) -> list[str]:
    """The tokens of one message: its words (twice), its bigrams, the head's bigrams again."""
    text = rep.normalize(f"{title}\n{body}" if title else body)
    compact = rep._SPACE.sub("", text)[:WORD_CHARS]
    head = rep._SPACE.sub("", rep.normalize(title)) if title else compact[: rep.HEAD_CHARS]
    out = ["w:" + w for w in rjieba.cut(text[:WORD_CHARS], hmm=False) if len(w.strip()) >= 2] * WORD_WEIGHT
    out += ["c:" + compact[i : i + 2] for i in range(len(compact) - 1)]
    out += ["c:" + head[i : i + 2] for i in range(len(head) - 1)]
    return out


@functools.lru_cache(maxsize=1)
def _vectorizer() -> rep.Vectorizer:
    from routing.intelligence.training import BOOTSTRAP_FILES, FIXTURES

    docs = []
    for name in BOOTSTRAP_FILES:
        with open(FIXTURES / name, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    docs.append(tokens(row.get("subject", ""), row.get("text", "")))
    return rep.Vectorizer.fit(rep.counts(docs))


@dataclass(frozen=True)
class Signature:
    """The strongest weighted columns of one message, unit length."""

    columns: np.ndarray  # int32, strongest first
    weights: np.ndarray  # float32

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.columns.tolist(), self.weights.tolist(), strict=True))

    def to_bytes(self) -> bytes:
        return self.columns.astype("<i4").tobytes() + self.weights.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        data = bytes(data)
        n = len(data) // 8
        return cls(np.frombuffer(data[: 4 * n], dtype="<i4"), np.frombuffer(data[4 * n :], dtype="<f4"))

    def probe(self, n: int) -> list[int]:
        """The ``n`` strongest columns: what the inverted index is asked for."""
        return self.columns[:n].tolist()


EMPTY = Signature(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))


def signatures(messages: Iterable[tuple[str, str]]) -> list[Signature]:
    """Signatures of ``(title, text)`` pairs, in one vectorised pass."""
    messages = list(messages)
    if not messages:
        return []
    matrix = _vectorizer().transform(rep.counts([tokens(title or "", body or "") for title, body in messages]))
    out = []
    for i in range(matrix.shape[0]):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        cols, vals = matrix.indices[start:end], matrix.data[start:end]
        if len(vals) == 0:
            out.append(EMPTY)
            continue
        order = np.argsort(-vals, kind="stable")[:TOP_TERMS]
        cols, vals = cols[order].astype(np.int32), vals[order].astype(np.float32)
        vals = vals / np.float32(math.sqrt(float(np.dot(vals, vals))))
        out.append(Signature(cols, vals))
    return out


def signature_batches(batches: Iterable[list[tuple[str, str]]], *, processes: int = 1) -> Iterator[list[Signature]]:
    """The signatures of each batch, in order, computed ahead on ``processes`` other cores while the
    caller works on the batches already given (an import clusters one while the next are cut)."""
    if processes <= 1:
        yield from map(signatures, batches)
        return
    import multiprocessing

    _vectorizer()  # fitted once, before the fork
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        yield from pool.imap(signatures, batches)


def signature(title: str, body: str) -> Signature:
    return signatures([(title, body)])[0]


def cosine(a: Signature, b: Signature | dict[int, float]) -> float:
    """Cosine of two signatures (or a signature and a unit-length column → weight map)."""
    other = b if isinstance(b, dict) else b.as_dict()
    return float(sum(w * other.get(c, 0.0) for c, w in zip(a.columns.tolist(), a.weights.tolist(), strict=True)))
