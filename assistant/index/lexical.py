"""Lexical (BM25) retrieval over chunks with bm25s, one index per clearance level.

Each clearance level gets its own index over only the chunks it may see, so filtering happens inside
the retriever (results are never starved by a post-filter) and term statistics of documents a user
may not see never influence their ranking.
"""

from __future__ import annotations

import threading

import numpy as np

from assistant.models import Chunk
from assistant.text import closest_word, tokenize


def chunk_lexical_text(chunk: Chunk) -> str:
    return f"{chunk.title} {' '.join(chunk.trail)} {chunk.text} {' '.join(chunk.controls)}"


MAX_CORRECTIONS = 50_000  # remembered spelling corrections (word, clearance)


class LexicalIndex:
    """BM25 over a fixed list of chunks; one bm25s model per clearance rank, built on first use."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks
        self._tokens = [tokenize(chunk_lexical_text(c)) for c in chunks]
        self._by_rank: dict[int, tuple[object, list[int]]] = {}
        self._df: dict[int, tuple[dict[str, int], int]] = {}
        self._pairs: dict[int, frozenset[tuple[str, str]]] = {}
        self._corrections: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def _model(self, max_rank: int) -> tuple[object, list[int]]:
        with self._lock:
            if max_rank not in self._by_rank:
                import bm25s

                positions = [i for i, c in enumerate(self._chunks) if c.class_rank <= max_rank and self._tokens[i]]
                model = bm25s.BM25()
                if positions:
                    model.index([self._tokens[i] for i in positions], show_progress=False)
                self._by_rank[max_rank] = (model, positions)
            return self._by_rank[max_rank]

    def document_frequencies(self, max_rank: int) -> tuple[dict[str, int], int]:
        """Token → number of visible chunks containing it, and the number of visible chunks."""
        with self._lock:
            if max_rank not in self._df:
                df: dict[str, int] = {}
                n = 0
                for chunk, tokens in zip(self._chunks, self._tokens, strict=True):
                    if chunk.class_rank <= max_rank:
                        n += 1
                        for token in set(tokens):
                            df[token] = df.get(token, 0) + 1
                self._df[max_rank] = (df, n)
            return self._df[max_rank]

    def corrected(self, token: str, max_rank: int) -> str:
        """The visible chunks' word a mistyped `token` stands for ("pasword" → "password"), else `token`. One
        lookup per word and clearance: the question's words and the lexical search read it from here."""
        key = (token, max_rank)
        found = self._corrections.get(key)
        if found is None:
            found = closest_word(token, self.document_frequencies(max_rank)[0]) or token
            with self._lock:
                if len(self._corrections) >= MAX_CORRECTIONS:  # arbitrary typed words must not grow it forever
                    self._corrections.clear()
                self._corrections[key] = found
        return found

    def uses_phrase(self, tokens: list[str], max_rank: int) -> bool:
        """Do the visible chunks use these tokens as a phrase (each pair of neighbours next to each other
        somewhere)? One token: does any visible chunk contain it."""
        with self._lock:
            if max_rank not in self._pairs:
                self._pairs[max_rank] = frozenset(
                    pair for chunk, chunk_tokens in zip(self._chunks, self._tokens, strict=True)
                    if chunk.class_rank <= max_rank for pair in zip(chunk_tokens, chunk_tokens[1:], strict=False))
        if len(tokens) < 2:
            return bool(tokens) and self.document_frequencies(max_rank)[0].get(tokens[0], 0) > 0
        return all(pair in self._pairs[max_rank] for pair in zip(tokens, tokens[1:], strict=False))

    def search(self, query: str, max_rank: int, k: int) -> list[tuple[Chunk, float]]:
        tokens = tokenize(query)
        model, positions = self._model(max_rank)
        if not tokens or not positions:
            return []
        k = min(k, len(positions))
        vocab = model.vocab_dict  # type: ignore[attr-defined]
        tokens = [t if t in vocab else self.corrected(t, max_rank) for t in tokens]  # "pasword" → "password"
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        ids, scores = model.retrieve([tokens], k=k, show_progress=False)  # type: ignore[attr-defined]
        out = []
        for idx, score in zip(np.asarray(ids)[0], np.asarray(scores)[0], strict=True):
            if score <= 0:
                continue
            out.append((self._chunks[positions[int(idx)]], float(score)))
        return out
