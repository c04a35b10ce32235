"""The one text representation of a citizen's message, shared by every learned feature.

Classification, repeat detection, hot-issue mining and reply review all read a
ticket through ``features`` and ``Vectorizer``: the same normalisation, the same
jieba words, the same hashed vector space, so a model or an index built by one
is meaningful to the others.

A message becomes tokens of four kinds:

* ``w:`` jieba words of the whole text (numbers folded to ``0``);
* ``u:`` single characters and ``c:`` character bigrams, which catch what the
  segmenter splits badly (place names, 欠薪 written a dozen ways);
* ``h:`` words of the head (the title, or the first 25 characters when there is
  none): citizens name their problem first;
* ``lex:<topic>`` once per word that also appears in a category name of that
  topic, so the city's own catalogue is evidence even for topics with few examples.

Tokens are hashed into ``N_FEATURES`` columns (no vocabulary to store or keep in
step) and weighted by sublinear tf × idf, L2-normalised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

import jieba
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

jieba.setLogLevel(60)

N_FEATURES = 2**19
HEAD_CHARS = 25
LEXICON_WEIGHT = 3
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, every number folded to 0."""
    return _DIGITS.sub("0", unicodedata.normalize("NFKC", text or "").lower())


def words(text: str) -> list[str]:
    """jieba words of normalised ``text``, without blanks."""
    return [w for w in jieba.lcut(normalize(text)) if w.strip()]


def features(title: str, text: str, lexicon: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """The tokens of one message (see the module docstring)."""
    body = normalize(f"{title}\n{text}" if title else text)
    compact = _SPACE.sub("", body)
    ws = [w for w in jieba.lcut(body) if w.strip()]
    tokens = ["w:" + w for w in ws]
    tokens += ["u:" + ch for ch in compact]
    tokens += ["c:" + compact[i : i + 2] for i in range(len(compact) - 1)]
    head = normalize(title) if title else compact[:HEAD_CHARS]
    tokens += ["h:" + w for w in jieba.lcut(_SPACE.sub("", head)) if w.strip()]
    if lexicon:
        for w in ws:
            for topic in lexicon.get(w, ()):
                tokens += [f"lex:{topic}"] * LEXICON_WEIGHT
    return tokens


def display_term(token: str) -> str | None:
    """What a token means to a person (the words that weighed most), or None for machinery."""
    kind, _, value = token.partition(":")
    if kind in {"w", "h"} and len(value) >= 2 and not value.isdigit() and value != "0":
        return value
    return None


_hasher = HashingVectorizer(analyzer=lambda tokens: tokens, n_features=N_FEATURES, alternate_sign=False, norm=None)


def counts(token_lists: Iterable[list[str]]) -> sp.csr_matrix:
    """Raw token counts, hashed."""
    return _hasher.transform(token_lists).tocsr()


def column(token: str) -> int:
    """The hashed column of one token (for explanations)."""
    return int(_hasher.transform([[token]]).indices[0])


class Vectorizer:
    """Sublinear tf × idf over the hashed counts, L2-normalised rows."""

    def __init__(self, idf: np.ndarray):
        self.idf = idf.astype(np.float32)

    @classmethod
    def fit(cls, matrix: sp.csr_matrix) -> Vectorizer:
        n = matrix.shape[0]
        df = np.bincount(matrix.indices, minlength=matrix.shape[1])
        return cls(np.log((1 + n) / (1 + df)) + 1.0)

    def transform(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        m = matrix.astype(np.float32, copy=True)
        np.log(m.data, out=m.data)
        m.data += 1.0
        m = m @ sp.diags(self.idf, format="csr")
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return (sp.diags(1.0 / norms) @ m).tocsr().astype(np.float32)
