"""The topic classifier: training, evaluation on a held-out split, and the stored artifact.

Pure computation: no database here (``routing.intelligence.training`` gathers
the examples, ``routing.intelligence.store`` keeps the versions). The artifact is
a compressed ``.npz`` of plain arrays, read with ``allow_pickle=False``, so a
stored model can never run code when it is loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.svm import LinearSVC
from sklearn.utils import murmurhash3_32

from routing.intelligence import text as rep

C = 3.0  # chosen by 5-fold cross-validation on the bootstrap messages (docs/INTELLIGENCE.md)
HOLDOUT_SHARE = 5  # one message in five, by a stable hash of its text, is held out for the figures
LARGE = 50_000  # examples: from here on one fit is served (no refit) and one in LARGE_HOLDOUT_SHARE is held out
LARGE_HOLDOUT_SHARE = 25  # a subset of the one-in-five (25 is a multiple of 5): a held-out message stays held out as the set grows
CHUNK = 2000
FORMAT = 1


class TrainingError(Exception):
    """Training could not produce a model (too few examples or topics); the previous model stays."""


@dataclass
class Example:
    title: str
    text: str
    topic: int  # level-1 category id
    leaf: int | None = None  # the deepest category staff chose, when below level 1
    source: str = "ticket"

    @property
    def key(self) -> str:
        return hashlib.blake2b(rep._SPACE.sub("", rep.normalize(self.title + self.text)).encode(), digest_size=8).hexdigest()

    @property
    def held_out(self) -> bool:
        return int(self.key, 16) % HOLDOUT_SHARE == 0

    def held_out_of(self, share: int) -> bool:
        return int(self.key, 16) % share == 0


@dataclass
class Leaf:
    id: int
    topic: int
    names: tuple[str, ...]  # level 2 and level 3 names


@dataclass
class Prediction:
    topics: list[tuple[int, float]]  # (topic id, probability), best first
    leaves: dict[int, tuple[int, float]]  # topic id → (best leaf id, its similarity)
    terms: list[str] = field(default_factory=list)


def lexicon_of(leaves: Iterable[Leaf]) -> dict[str, list[int]]:
    """Word → the topics whose category names contain it."""
    lexicon: dict[str, set[int]] = {}
    for leaf in leaves:
        for name in leaf.names:
            for w in rep.words(name):
                if len(w) >= 2:
                    lexicon.setdefault(w, set()).add(leaf.topic)
    return {w: sorted(t) for w, t in lexicon.items()}


def _tokens(examples: Sequence[tuple[str, str]], lexicon) -> Iterable[list[str]]:
    for title, body in examples:
        yield rep.features(title, body, lexicon)


_fork_lexicon: dict | None = None  # what the forked feature workers read (copied by the fork, not pickled)
PARALLEL_FROM = 5000  # examples: below this, forking costs more than it saves


def _count_chunk(chunk: Sequence[tuple[str, str]]) -> sp.csr_matrix:
    return rep.counts(_tokens(chunk, _fork_lexicon))


def _count_matrix(pairs: Sequence[tuple[str, str]], lexicon, progress: Callable[[str], None] | None = None, *, processes: int | None = None) -> sp.csr_matrix:
    """Hashed counts, built in chunks so memory stays the size of the sparse result; segmenting
    (most of a training's time) runs on every core for a large training set."""
    global _fork_lexicon
    chunks = [pairs[start : start + CHUNK] for start in range(0, len(pairs), CHUNK)]
    processes = processes or min(os.cpu_count() or 1, 4)
    blocks: list[sp.csr_matrix] = []

    def done(block) -> None:
        blocks.append(block)
        if progress and len(blocks) % 10 == 0:
            progress(f"  features {min(len(blocks) * CHUNK, len(pairs))}/{len(pairs)}")

    if processes > 1 and len(pairs) >= PARALLEL_FROM:
        import multiprocessing

        import jieba

        jieba.initialize()  # the dictionary is loaded once, before the fork
        _fork_lexicon = lexicon
        try:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                for block in pool.imap(_count_chunk, chunks):
                    done(block)
        finally:
            _fork_lexicon = None
    else:
        for chunk in chunks:
            done(rep.counts(_tokens(chunk, lexicon)))
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, rep.N_FEATURES), dtype=np.float32)


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit(X: sp.csr_matrix, y: np.ndarray) -> LinearSVC:
    return LinearSVC(C=C, class_weight="balanced", max_iter=2000).fit(X, y)


def _fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """The softmax temperature that makes the held-out scores honest probabilities (least log loss)."""
    def nll(t):
        p = _softmax(scores, t)[np.arange(len(y_index)), y_index]
        return -np.mean(np.log(np.clip(p, 1e-12, None)))
    return float(minimize_scalar(nll, bounds=(0.02, 5.0), method="bounded").x)


class TopicModel:
    def __init__(self, *, classes, coef, intercept, idf, temperature, leaf_ids, leaf_topics, leaf_matrix, lexicon, metrics=None):
        self.classes = np.asarray(classes, dtype=np.int64)
        self.coef = coef.tocsr().astype(np.float32)
        self.coef_t = self.coef.T.tocsr()
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.vectorizer = rep.Vectorizer(np.asarray(idf))
        self.temperature = float(temperature)
        self.leaf_ids = np.asarray(leaf_ids, dtype=np.int64)
        self.leaf_topics = np.asarray(leaf_topics, dtype=np.int64)
        self.leaf_matrix = leaf_matrix.tocsr().astype(np.float32)
        self.leaf_matrix_t = self.leaf_matrix.T.tocsr()
        self.lexicon = lexicon
        self.metrics = metrics or {}

    # --- serving ---------------------------------------------------------------------------
    def vector(self, title: str, body: str) -> tuple[sp.csr_matrix, list[str]]:
        tokens = rep.features(title, body, self.lexicon)
        return self.vectorizer.transform(rep.counts([tokens])), tokens

    def predict(self, title: str, body: str, *, explain: int = 0) -> Prediction:
        x, tokens = self.vector(title, body)
        scores = (x @ self.coef_t).toarray() + self.intercept
        probs = _softmax(scores, self.temperature)[0]
        order = np.argsort(-probs)
        topics = [(int(self.classes[i]), float(probs[i])) for i in order]
        sims = (x @ self.leaf_matrix_t).toarray()[0]
        leaves: dict[int, tuple[int, float]] = {}
        for j in np.argsort(-sims, kind="stable"):
            topic = int(self.leaf_topics[j])
            if topic not in leaves:
                leaves[topic] = (int(self.leaf_ids[j]), float(sims[j]))
        terms = self._explain(x, tokens, order[0], explain) if explain else []
        return Prediction(topics, leaves, terms)

    def _explain(self, x: sp.csr_matrix, tokens: list[str], class_index: int, limit: int) -> list[str]:
        """The words of the message that pushed most towards the proposed topic."""
        row = self.coef.getrow(class_index).toarray()[0]
        weight = dict(zip(x.indices.tolist(), (x.data * row[x.indices]).tolist()))
        best: dict[str, float] = {}
        for token in set(tokens):
            term = rep.display_term(token)
            if term is None:
                continue
            column = abs(murmurhash3_32(token, seed=0)) % rep.N_FEATURES
            value = weight.get(column, 0.0)
            if value > 0 and value > best.get(term, 0.0):
                best[term] = value
        ranked = sorted(best, key=lambda t: -best[t])
        kept: list[str] = []
        for term in ranked:  # a title word repeats a body word: keep each once
            if not any(term in k or k in term for k in kept):
                kept.append(term)
            if len(kept) == limit:
                break
        return kept

    # --- storage ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        words = np.array(list(self.lexicon), dtype=str)
        topic_lists = [self.lexicon[w] for w in self.lexicon]
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array([FORMAT]), classes=self.classes, intercept=self.intercept, idf=self.vectorizer.idf,
            temperature=np.array([self.temperature]), leaf_ids=self.leaf_ids, leaf_topics=self.leaf_topics,
            coef_data=self.coef.data, coef_indices=self.coef.indices, coef_indptr=self.coef.indptr, coef_shape=np.array(self.coef.shape),
            leaf_data=self.leaf_matrix.data, leaf_indices=self.leaf_matrix.indices, leaf_indptr=self.leaf_matrix.indptr,
            leaf_shape=np.array(self.leaf_matrix.shape), lex_words=words,
            lex_lengths=np.array([len(t) for t in topic_lists], dtype=np.int32),
            lex_topics=np.array([t for ts in topic_lists for t in ts], dtype=np.int64),
        )  # fmt: skip
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> TopicModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as a:
            if int(a["format"][0]) != FORMAT:
                raise ValueError(f"unknown model format {int(a['format'][0])}")
            coef = sp.csr_matrix((a["coef_data"], a["coef_indices"], a["coef_indptr"]), shape=tuple(a["coef_shape"]))
            leaf = sp.csr_matrix((a["leaf_data"], a["leaf_indices"], a["leaf_indptr"]), shape=tuple(a["leaf_shape"]))
            lexicon, offset = {}, 0
            topics = a["lex_topics"].tolist()
            for w, n in zip(a["lex_words"].tolist(), a["lex_lengths"].tolist()):
                lexicon[w] = topics[offset : offset + n]
                offset += n
            model = cls(
                classes=a["classes"], coef=coef, intercept=a["intercept"], idf=a["idf"], temperature=float(a["temperature"][0]),
                leaf_ids=a["leaf_ids"], leaf_topics=a["leaf_topics"], leaf_matrix=leaf, lexicon=lexicon,
            )  # fmt: skip
        if model.coef.shape != (len(model.classes), rep.N_FEATURES) or model.vectorizer.idf.shape != (rep.N_FEATURES,):
            raise ValueError("model arrays do not fit the text representation")
        return model


# --- training ------------------------------------------------------------------------------
MIN_EXAMPLES = 50
MIN_TOPICS = 3
MIN_PER_TOPIC = 5


def evaluate(y_true: np.ndarray, scores: np.ndarray, classes: np.ndarray, names: dict[int, str]) -> dict:
    """Accuracy, macro-F1, top-3 accuracy, per-class figures and the confusion matrix."""
    y_pred = classes[scores.argmax(axis=1)]
    top3 = classes[np.argsort(-scores, axis=1)[:, :3]]
    labels = [int(c) for c in classes]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "held_out": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "top3_accuracy": float(np.mean([t in row for t, row in zip(y_true, top3)])),
        "per_class": [
            {"id": c, "name": names.get(c, str(c)), "precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si)}
            for c, pi, ri, fi, si in zip(labels, p, r, f, s)
        ],
        "labels": [names.get(c, str(c)) for c in labels],
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def train(examples: Sequence[Example], leaves: Sequence[Leaf], names: dict[int, str], *, progress: Callable[[str], None] = lambda m: None) -> TopicModel:
    """Fit on the training share, evaluate on the held-out share, then refit on everything.

    From ``LARGE`` examples on, one message in ``LARGE_HOLDOUT_SHARE`` is held out and the
    evaluated fit is the model served: a second fit on all would double the training time
    (each LinearSVC fit on 100,000 messages is about 90 s here) to learn from 4 % more.
    """
    started = time.monotonic()
    counts_by_topic: dict[int, int] = {}
    for e in examples:
        counts_by_topic[e.topic] = counts_by_topic.get(e.topic, 0) + 1
    kept_topics = {t for t, n in counts_by_topic.items() if n >= MIN_PER_TOPIC}
    examples = [e for e in examples if e.topic in kept_topics]
    if len(examples) < MIN_EXAMPLES or len(kept_topics) < MIN_TOPICS:
        raise TrainingError(f"too few examples to train: {len(examples)} examples in {len(kept_topics)} topics (need {MIN_EXAMPLES} in {MIN_TOPICS})")
    lexicon = lexicon_of(leaves)
    progress(f"{len(examples)} examples in {len(kept_topics)} topics; building features")
    counts = _count_matrix([(e.title, e.text) for e in examples], lexicon, progress)
    y = np.array([e.topic for e in examples], dtype=np.int64)
    large = len(examples) >= LARGE
    held = np.array([e.held_out_of(LARGE_HOLDOUT_SHARE if large else HOLDOUT_SHARE) for e in examples])
    metrics: dict = {"examples": len(examples), "topics": len(kept_topics)}
    temperature = 1.0
    vec = clf = None
    if held.sum() >= len(kept_topics) and len(set(y[~held])) == len(kept_topics):
        progress(f"training on {int((~held).sum())}, holding out {int(held.sum())} for evaluation")
        vec = rep.Vectorizer.fit(counts[~held])
        clf = _fit(vec.transform(counts[~held]), y[~held])
        scores = clf.decision_function(vec.transform(counts[held]))
        index = {int(c): i for i, c in enumerate(clf.classes_)}
        temperature = _fit_temperature(scores, np.array([index[int(t)] for t in y[held]]))
        metrics.update(evaluate(y[held], scores, clf.classes_, names))
        progress(f"held-out: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, top-3 {metrics['top3_accuracy']:.3f}")
        del scores
    else:
        progress("too few examples to hold some out: no evaluation")
    if large and clf is not None:
        # A refit on the last 4 % would double the time for a model that is no better to
        # measure; the model served is the one the figures are about.
        metrics["refit"] = False
        X = vec.transform(counts)
        progress("serving the evaluated model (large set: no refit)")
    else:
        progress("refitting on every example")
        vec = rep.Vectorizer.fit(counts)
        X = vec.transform(counts)
        clf = _fit(X, y)
        metrics["refit"] = True
    coef = sp.csr_matrix(np.where(np.abs(clf.coef_) > 1e-6, clf.coef_, 0).astype(np.float32))
    leaf_matrix, leaf_ids, leaf_topics = _leaf_centroids(leaves, examples, X, vec, lexicon, kept_topics)
    metrics.update(temperature=temperature, seconds=round(time.monotonic() - started, 1))
    progress(f"done in {metrics['seconds']} s")
    return TopicModel(
        classes=clf.classes_, coef=coef, intercept=clf.intercept_, idf=vec.idf, temperature=temperature,
        leaf_ids=leaf_ids, leaf_topics=leaf_topics, leaf_matrix=leaf_matrix, lexicon=lexicon, metrics=metrics,
    )  # fmt: skip


def _leaf_centroids(leaves, examples, X, vec, lexicon, topics):
    """One row per leaf: its names (counted thrice) plus the messages staff filed under it, L2-normalised."""
    leaves = [leaf for leaf in leaves if leaf.topic in topics]
    if not leaves:
        return sp.csr_matrix((0, rep.N_FEATURES), dtype=np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    names = vec.transform(rep.counts(rep.features(leaf.names[-1], " ".join(leaf.names), lexicon) for leaf in leaves)) * 3
    position = {leaf.id: i for i, leaf in enumerate(leaves)}
    rows = [i for i, e in enumerate(examples) if e.leaf in position]
    if rows:
        assign = sp.csr_matrix((np.ones(len(rows), np.float32), ([position[examples[i].leaf] for i in rows], rows)), shape=(len(leaves), X.shape[0]))
        names = names + assign @ X
    norms = np.sqrt(np.asarray(names.multiply(names).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    matrix = (sp.diags(1.0 / norms) @ names).tocsr().astype(np.float32)
    return matrix, np.array([leaf.id for leaf in leaves], np.int64), np.array([leaf.topic for leaf in leaves], np.int64)
