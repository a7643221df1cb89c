"""Evaluation: data sets, metrics, a runner over the answering service, reports, and MLflow
tracking and registry (the `eval` extra, imported only when used)."""

from askdocs.evaluation.dataset import EvalDataset, EvalQuestion, load_dataset
from askdocs.evaluation.errors import DatasetError, PromotionRefusedError, TrackingError
from askdocs.evaluation.metrics import QuestionResult, retrieval_metrics, summarize
from askdocs.evaluation.report import EvalReport, write_reports
from askdocs.evaluation.runner import EvalOptions, prepare_corpus, run_eval
from askdocs.evaluation.tracking import load_registered_settings

__all__ = [
    "DatasetError",
    "EvalDataset",
    "EvalOptions",
    "EvalQuestion",
    "EvalReport",
    "PromotionRefusedError",
    "QuestionResult",
    "TrackingError",
    "load_dataset",
    "load_registered_settings",
    "prepare_corpus",
    "retrieval_metrics",
    "run_eval",
    "summarize",
    "write_reports",
]
