"""Fit the abstention model on the dev split (never on holdout) and print the weights for Settings.

    python evals/calibrate_abstention.py [--questions evals/questions.jsonl] [--index DIR]

Signals per question (assistant.answer.grounded.evidence_signals): best passage cosine, best sentence
cosine, idf-weighted coverage of the question's words. Questions naming a control/risk id never abstain
and are left out of the fit. The model is a class-balanced, L2-regularised logistic regression.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.answer.grounded import candidate_units, evidence_signals
from assistant.service import Assistant


def signals_for(assistant: Assistant, question: str, role: str) -> tuple[list[float], bool]:
    analysis, result = assistant.retrieve(question, role=role)
    loaded = assistant.index
    units = candidate_units(result.hits)
    sims = loaded.unit_vectors.for_units(units) @ result.query_vector if units else np.zeros(0)
    s = evidence_signals(analysis, result.hits, sims, loaded.lexical.document_frequencies(assistant.clearance(role)))
    return [s.best_dense, s.best_sentence, s.coverage], s.named_entity


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.05, steps: int = 20000, lr: float = 0.5) -> np.ndarray:
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    pos = y.mean()
    sample_weight = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ ((p - y) * sample_weight) / len(y) + l2 * np.r_[0, w[1:]]
        w -= lr * grad
    return w


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", default="evals/questions.jsonl")
    parser.add_argument("--index", default=None)
    parser.add_argument("--l2", type=float, default=0.001)
    args = parser.parse_args()
    assistant = Assistant(index_dir=Path(args.index) if args.index else None)
    if not assistant.has_index():
        assistant.ingest()
    rows = [json.loads(line) for line in open(args.questions, encoding="utf-8") if line.strip()]
    data = {"dev": [], "holdout": []}
    for q in rows:
        feats, named = signals_for(assistant, q["question"], q.get("role", "staff"))
        data[q.get("split", "dev")].append((feats, named, bool(q["abstain"])))
    dev = [(f, a) for f, named, a in data["dev"] if not named]
    w = fit_logistic(np.array([f for f, _ in dev]), np.array([a for _, a in dev], dtype=float), l2=args.l2)

    def accuracy(items: list[tuple[list[float], bool, bool]]) -> float:
        ok = 0
        for feats, named, should in items:
            z = w[0] + float(np.dot(w[1:], feats))
            ok += ((not named) and z >= 0) == should
        return ok / len(items)

    print(json.dumps({"abstain_weights": [round(float(v), 3) for v in w],
                      "dev_abstain_accuracy": round(accuracy(data["dev"]), 3),
                      "holdout_abstain_accuracy": round(accuracy(data["holdout"]), 3) if data["holdout"] else None},
                     indent=1))


if __name__ == "__main__":
    main()
