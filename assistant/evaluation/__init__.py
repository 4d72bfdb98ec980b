"""Evaluation: metrics (pure functions), the harness behind `isms-assistant eval`, and baselines."""

from assistant.errors import EvalError
from assistant.evaluation.harness import Question, evaluate, load_questions, run_eval
from assistant.evaluation.metrics import Outcome, summarize, summarize_with_tags

__all__ = ["EvalError", "Outcome", "Question", "evaluate", "load_questions", "run_eval", "summarize",
           "summarize_with_tags"]
