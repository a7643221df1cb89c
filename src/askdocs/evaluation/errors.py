"""Errors of `askdocs eval` and the model registry; each says what to do about it."""

from __future__ import annotations

from askdocs.errors import AskdocsError


class DatasetError(AskdocsError):
    """An evaluation data set is missing, malformed or empty."""

    code = "dataset_error"


class TrackingError(AskdocsError):
    """MLflow is not installed, or the tracking store or registry refused a request."""

    code = "tracking_error"


class PromotionRefusedError(AskdocsError):
    """A registered version is not at least as good as the champion on the same data set."""

    code = "promotion_refused"
