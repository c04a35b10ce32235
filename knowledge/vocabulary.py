"""Chinese text for search: jieba segmentation with the hotline vocabulary, synonyms, stop words, bigrams.

Both search backends index the same derived text:

- ``segmented(text)``: jieba in search mode (whole words plus their shorter
  dictionary sub-words), space separated, lower case;
- ``bigrams(text)``: overlapping character pairs of every run of Chinese
  characters (the same idea as Elasticsearch's ``cjk`` analyzer), which finds
  text that jieba cut differently or that a caller mistyped in one character.

Queries are cut in jieba's precise mode, stop words dropped, and each word
expanded with its synonyms from ``data/synonyms.txt``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import jieba

DATA_DIR = Path(__file__).resolve().parent / "data"
SYNONYMS_FILE = DATA_DIR / "synonyms.txt"
STOPWORDS_FILE = DATA_DIR / "stopwords.txt"
WORDS_FILE = DATA_DIR / "words.txt"

# A run of CJK ideographs, or a run of letters and digits.
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD_RUN = re.compile(r"[0-9a-z]+")
_JIEBA_LOCK = threading.Lock()
# jieba's HMM guesses new words from unknown character runs ("办狗证", "条泰迪"); in short
# colloquial queries its guesses are mostly wrong and hide the real words, so it is off.
# Words jieba does not know fall apart into single characters, and the bigram fields
# (Elasticsearch's cjk analyzer, the embedded *_bi columns) still match them.
HMM = False


def _data_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _split_words(text: str) -> list[str]:
    return [w.strip().lower() for w in text.split(",") if w.strip()]


@dataclass(frozen=True)
class Synonyms:
    """The hotline vocabulary: groups of equivalent words and one-way corrections."""

    groups: tuple[tuple[str, ...], ...]
    corrections: dict[str, str] = field(default_factory=dict)

    @property
    def words(self) -> set[str]:
        """Every word the vocabulary knows (added to jieba's dictionary)."""
        words = {w for group in self.groups for w in group}
        words.update(self.corrections)
        words.update(self.corrections.values())
        return words

    def rules(self) -> list[str]:
        """The rules in the Solr format Elasticsearch's synonym filters read."""
        rules = [", ".join(group) for group in self.groups]
        by_target: dict[str, list[str]] = {}
        for source, target in self.corrections.items():
            by_target.setdefault(target, []).append(source)
        rules.extend(f"{', '.join(sorted(sources))} => {target}" for target, sources in sorted(by_target.items()))
        return rules

    def expand(self, word: str) -> list[str]:
        """``word`` (corrected when it is a known typo) followed by its synonyms."""
        word = self.corrections.get(word, word)
        expanded = [word]
        for group in self.groups:
            if word in group:
                expanded.extend(w for w in group if w not in expanded)
        return expanded


def parse_synonyms(lines: list[str]) -> Synonyms:
    """Parse synonym lines: ``a,b,c`` (equivalent) or ``x,y => z`` (x and y read as z)."""
    groups: list[tuple[str, ...]] = []
    corrections: dict[str, str] = {}
    for line in lines:
        if "=>" in line:
            left, right = line.split("=>", 1)
            targets = _split_words(right)
            if len(targets) != 1:
                raise ValueError(f"synonyms: a correction needs exactly one target: {line!r}")
            for source in _split_words(left):
                corrections[source] = targets[0]
        else:
            words = tuple(dict.fromkeys(_split_words(line)))
            if len(words) < 2:
                raise ValueError(f"synonyms: a group needs at least two words: {line!r}")
            groups.append(words)
    for word in [w for g in groups for w in g] + list(corrections):
        if " " in word:
            raise ValueError(f"synonyms: no spaces inside a word: {word!r}")
    return Synonyms(groups=tuple(groups), corrections=corrections)


@functools.lru_cache(maxsize=1)
def synonyms() -> Synonyms:
    """The hotline vocabulary from ``data/synonyms.txt``."""
    return parse_synonyms(_data_lines(SYNONYMS_FILE))


@functools.lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Words dropped from queries."""
    return frozenset(w.lower() for w in _data_lines(STOPWORDS_FILE))


@functools.lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """A jieba tokenizer of this process that knows every vocabulary word (``synonyms.txt``, ``words.txt``)."""
    with _JIEBA_LOCK:
        jieba.setLogLevel(logging.WARNING)  # jieba sets its own logger to DEBUG when imported
        tok = jieba.Tokenizer()
        tok.initialize()
        for word in sorted(synonyms().words | set(_data_lines(WORDS_FILE))):
            # A high frequency keeps a vocabulary word whole instead of cut in two.
            tok.add_word(word, freq=max(tok.suggest_freq(word), 20000))
    return tok


def _keep(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def index_tokens(text: str) -> list[str]:
    """Tokens of ``text`` for the index: jieba search mode, lower case, no punctuation."""
    if not text:
        return []
    return [t.lower() for t in tokenizer().cut_for_search(text, HMM=HMM) if _keep(t)]


def segmented(text: str) -> str:
    """``text`` as space-separated jieba tokens (what the ``*_seg`` fields hold)."""
    return " ".join(index_tokens(text))


def bigrams(text: str) -> str:
    """Overlapping pairs of Chinese characters plus whole latin/digit words, space separated."""
    if not text:
        return ""
    lowered = text.lower()
    grams: list[str] = []
    for match in _CJK_RUN.finditer(lowered):
        run = match.group()
        if len(run) == 1:
            grams.append(run)
        else:
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    grams.extend(_WORD_RUN.findall(lowered))
    return " ".join(grams)


def query_words(text: str) -> list[str]:
    """The meaningful words of a query: precise-mode jieba, stop words dropped, no duplicates.

    A query made only of stop words keeps them, so it still finds something.
    """
    if not text:
        return []
    tokens = [t.strip().lower() for t in tokenizer().cut(text, HMM=HMM) if _keep(t)]
    meaningful = [t for t in tokens if t not in stopwords()]
    return list(dict.fromkeys(meaningful or tokens))


def query_terms(text: str) -> list[list[str]]:
    """Each meaningful query word with its synonyms: ``[["医保", "医疗保险", ...], ["报销"]]``."""
    vocabulary = synonyms()
    return [vocabulary.expand(word) for word in query_words(text)]


def expanded_query(text: str) -> str:
    """The query words and all their synonyms as one space-separated string."""
    return " ".join(dict.fromkeys(w for group in query_terms(text) for w in group))
