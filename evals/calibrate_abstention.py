"""Fit the abstention model on the dev splits (never on holdout) and print the weights for Settings.

    python evals/calibrate_abstention.py [--set QUESTIONS:CORPUS:INDEX ...]

Each --set is a question file with the corpus it asks about and an index folder for it (built when
missing); the default is the sample corpus with evals/questions.jsonl. Fitting on the dev splits of more
than one corpus keeps the model from learning one organization's vocabulary. Multi-turn items are asked
with their earlier turns in one conversation.

Signals per question (assistant.answer.grounded.evidence_signals): best sentence cosine, idf-weighted
coverage of the question's words, how far the best passage stands above the median of the dense
candidates, and whether the dense and lexical searches agree on the best passage. Questions naming a
control/risk id and follow-ups of an answered turn never abstain and are left out of the fit. The model is
an L2-regularised logistic regression in which each corpus counts the same and, within a corpus, the
out-of-scope class counts `--oos-weight` of the answerable one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.answer.grounded import candidate_units, evidence_signals
from assistant.service import Assistant


def signals_for(assistant: Assistant, question: str, role: str, turns: list[str]) -> tuple[list[float], bool]:
    conversation = assistant.new_conversation()
    for turn in turns:
        assistant.ask(turn, role=role, conversation=conversation, llm=False)
    analysis, result = assistant.retrieve(question, role=role, conversation=conversation)
    loaded = assistant.index
    units = candidate_units(result.hits)
    sims = loaded.unit_vectors.for_units(units) @ result.query_vector if units else np.zeros(0)
    s = evidence_signals(analysis, result.hits, sims, loaded.lexical.document_frequencies(assistant.clearance(role)),
                         units, result.dense_peak, result.rank_agreement)
    return s.features(), s.named_entity or s.continues_answer


def fit_logistic(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, l2: float = 0.05, steps: int = 20000,
                 lr: float = 0.5) -> np.ndarray:
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ ((p - y) * sample_weight) / sample_weight.sum() + l2 * np.r_[0, w[1:]]
        w -= lr * grad
    return w


def balanced_weights(sets: list[str], y: np.ndarray, oos_weight: float) -> np.ndarray:
    """Each corpus counts the same, and within a corpus each class does (the out-of-scope class times
    `oos_weight`): the largest question set must not decide the model alone."""
    out = np.zeros(len(y))
    for i, (name, label) in enumerate(zip(sets, y, strict=True)):
        same = sum(1 for n, lab in zip(sets, y, strict=True) if n == name and lab == label)
        out[i] = (oos_weight if label else 1.0) / same
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", dest="sets", metavar="QUESTIONS:CORPUS:INDEX",
                        help="question file, its corpus and an index folder (repeatable)")
    parser.add_argument("--l2", type=float, default=0.001)
    parser.add_argument("--oos-weight", type=float, default=0.6,
                        help="weight of the out-of-scope class against the answerable one (within each corpus)")
    parser.add_argument("--loco", action="store_true",
                        help="also print leave-one-corpus-out accuracy (fit on the other sets, test on each)")
    args = parser.parse_args()
    sets = args.sets or ["evals/questions.jsonl:corpus:"]
    data: dict[str, list[tuple[list[float], bool, bool]]] = {}
    for spec in sets:
        questions, corpus, index = (spec.split(":") + ["", ""])[:3]
        assistant = Assistant(corpus_dir=Path(corpus) if corpus else None, index_dir=Path(index) if index else None)
        assistant.ingest()
        rows = [json.loads(line) for line in open(questions, encoding="utf-8") if line.strip()]
        data[questions] = []
        for q in rows:
            if q.get("split", "dev") != "dev":
                continue  # the holdout split is never read here
            feats, named = signals_for(assistant, q["question"], q.get("role", "staff"), q.get("turns", []))
            data[questions].append((feats, named, bool(q["abstain"])))
    w = fit(data, args.oos_weight, args.l2)
    report: dict[str, object] = {
        "abstain_weights": [round(float(v), 3) for v in w],
        "dev_abstain_accuracy": {name: round(accuracy(w, items), 3) for name, items in data.items()}}
    if args.loco and len(data) > 1:
        loco = {name: round(accuracy(fit({n: i for n, i in data.items() if n != name}, args.oos_weight, args.l2),
                                     items), 3) for name, items in data.items()}
        report["leave_one_corpus_out_accuracy"] = loco | {"mean": round(float(np.mean(list(loco.values()))), 3)}
    print(json.dumps(report, indent=1))


Items = list[tuple[list[float], bool, bool]]  # per dev question: its signals, named (never abstains), out of scope


def fit(data: dict[str, Items], oos_weight: float, l2: float) -> np.ndarray:
    """The model fitted on these sets' dev questions (those that may abstain)."""
    dev = [(name, f, a) for name, items in data.items() for f, named, a in items if not named]
    y = np.array([a for _, _, a in dev], dtype=float)
    return fit_logistic(np.array([f for _, f, _ in dev]), y, balanced_weights([n for n, _, _ in dev], y, oos_weight),
                        l2=l2)


def accuracy(w: np.ndarray, items: Items) -> float:
    ok = 0
    for feats, named, should in items:
        z = w[0] + float(np.dot(w[1:], feats))
        ok += ((not named) and z >= 0) == should
    return ok / len(items)


if __name__ == "__main__":
    main()
