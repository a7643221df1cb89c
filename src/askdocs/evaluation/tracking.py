"""MLflow tracking and registry: log an evaluation run, register its answering configuration,
promote a version to `champion` only when it is at least as good on the same data set, and turn
a registered model back into Settings.

MLflow is the optional extra `askdocs[eval]`; it is imported only here, on use. Its logging API
reads one process-wide tracking URI, so each call here sets it from the settings first.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from askdocs.evaluation.errors import PromotionRefusedError, TrackingError
from askdocs.evaluation.metrics import better_or_equal
from askdocs.evaluation.report import EvalReport
from askdocs.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from askdocs.evaluation.finetune import FinetuneResult

CHAMPION = "champion"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


def require_mlflow() -> ModuleType:
    """The mlflow module, with its pyfunc flavor loaded; an error naming the extra if absent."""
    try:
        with warnings.catch_warnings():
            # mlflow.pyfunc warns about type hints of its own when it is first imported.
            warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType")
            import mlflow
            import mlflow.pyfunc
    except ImportError as exc:
        raise TrackingError(
            "MLflow is not installed: install the eval extra, pip install 'askdocs[eval]'"
        ) from exc
    return mlflow


def tracking_uri(settings: Settings) -> str:
    """settings.eval.tracking_uri, else a SQLite store in DATA_DIR/mlruns."""
    if settings.eval.tracking_uri:
        return settings.eval.tracking_uri
    folder = settings.data_dir / "mlruns"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / 'mlflow.db'}"


def artifact_location(settings: Settings) -> str | None:
    """Where a new experiment keeps artifacts; None leaves it to the tracking server."""
    if settings.eval.artifact_location:
        return settings.eval.artifact_location
    if settings.eval.tracking_uri:
        return None
    return (settings.data_dir / "mlruns" / "artifacts").resolve().as_uri()


def connect(settings: Settings) -> MlflowClient:
    mlflow = require_mlflow()
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client: MlflowClient = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return client


def experiment_id(client: MlflowClient, settings: Settings) -> str:
    name = settings.eval.experiment
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location(settings)))


def metric_key(name: str) -> str:
    """MLflow metric names allow no '@': hit@5 is logged as hit_at_5."""
    return name.replace("@", "_at_")


def run_params(report: EvalReport) -> dict[str, str]:
    params = dict(report.config)
    params["dataset.name"] = report.dataset
    params["dataset.sha256"] = report.dataset_sha256
    params["dataset.questions"] = str(len(report.results))
    params |= {f"eval.{k}": json.dumps(v) for k, v in report.options.items()}
    return params


def run_metrics(report: EvalReport) -> dict[str, float]:
    """Overall metrics under their own names, per kind as ``kind/metric``."""
    metrics = {metric_key(k): v for k, v in report.overall.items() if v is not None}
    for kind, summary in report.by_kind.items():
        metrics |= {f"{kind}/{metric_key(k)}": v for k, v in summary.items() if v is not None}
    calibration = report.calibration
    if calibration is not None and calibration.threshold is not None:
        chosen = calibration.chosen
        metrics["calibrated/answerability_threshold"] = calibration.threshold
        for name, value in (
            ("abstention_accuracy", chosen.abstention_accuracy),
            ("false_abstention", chosen.false_abstention),
        ):
            if value is not None:
                metrics[f"calibrated/{name}"] = value
    return metrics


@dataclass(frozen=True, slots=True)
class LoggedRun:
    run_id: str
    model_uri: str


def log_report(settings: Settings, report: EvalReport, report_files: list[Path]) -> LoggedRun:
    """One MLflow run: parameters, metrics, the reports, and the configuration as a model."""
    mlflow = require_mlflow()
    from askdocs.evaluation.serving import log_answering_model

    client = connect(settings)
    exp = experiment_id(client, settings)
    with mlflow.start_run(experiment_id=exp, run_name=report.name) as run:
        mlflow.log_params(run_params(report))
        mlflow.log_metrics(run_metrics(report))
        mlflow.set_tags(
            {"askdocs.dataset": report.dataset, "askdocs.dataset_sha256": report.dataset_sha256}
        )
        for path in report_files:
            mlflow.log_artifact(str(path), artifact_path="reports")
        info = log_answering_model(settings)
    return LoggedRun(run.info.run_id, info.model_uri)


def log_finetune(settings: Settings, result: FinetuneResult, params: dict[str, str]) -> LoggedRun:
    """One MLflow run for a fine-tuning: the held-out metrics before and after, the training
    choices, and the answering configuration with the new embedder as a model (the ONNX graph
    travels inside it)."""
    mlflow = require_mlflow()
    from askdocs.evaluation.configuration import answering_params
    from askdocs.evaluation.serving import log_answering_model

    client = connect(settings)
    exp = experiment_id(client, settings)
    tuned = settings.model_copy(update={"embed": result.exported.settings(settings.embed)})
    with mlflow.start_run(experiment_id=exp, run_name="finetune-embedder") as run:
        mlflow.log_params(answering_params(tuned) | params)
        metrics = {f"before/{metric_key(k)}": v for k, v in result.before.items()}
        metrics |= {f"after/{metric_key(k)}": v for k, v in result.after.items()}
        mlflow.log_metrics(metrics | {f"pairs/{k}": float(v) for k, v in result.origins.items()})
        mlflow.log_artifact(str(result.exported.folder / "finetune.json"), artifact_path="reports")
        info = log_answering_model(tuned)
    return LoggedRun(run.info.run_id, info.model_uri)


def register(settings: Settings, logged: LoggedRun, name: str) -> int:
    """A new version of registered model ``name`` from the run's logged configuration."""
    mlflow = require_mlflow()
    connect(settings)
    version = mlflow.register_model(logged.model_uri, name, tags={"run_id": logged.run_id})
    return int(version.version)


@dataclass(frozen=True, slots=True)
class Promotion:
    """The outcome of --promote: the alias moved, or why not."""

    promoted: bool
    reason: str
    metric: str
    candidate: float | None
    champion: float | None = None
    champion_version: int | None = None


def promote(settings: Settings, name: str, version: int) -> Promotion:
    """Set alias `champion` on ``version`` if its primary metric is at least the champion's
    on the same data set (the same dataset sha256); else raise PromotionRefusedError."""
    mlflow = require_mlflow()
    client = connect(settings)
    metric = settings.eval.primary_metric
    key = metric_key(metric)
    candidate = client.get_model_version(name, str(version))
    run = client.get_run(_run_id(candidate))
    dataset = run.data.params.get("dataset.sha256", "")
    value = run.data.metrics.get(key)
    if value is None:
        known = ", ".join(sorted(k for k in run.data.metrics if "/" not in k))
        raise PromotionRefusedError(
            f"version {version} was not measured on {metric} (eval.primary_metric) in its run; "
            f"measured: {known}. Evaluate with generation on for answer metrics, or change "
            "ASKDOCS_EVAL__PRIMARY_METRIC"
        )
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        champion = None
    if champion is None or int(champion.version) == version:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        why = "no champion yet" if champion is None else "already the champion"
        return Promotion(True, why, metric, value)
    best = _champion_value(client, champion, dataset, key)
    champ_version = int(champion.version)
    if best is None:
        raise PromotionRefusedError(
            f"not promoted: the champion (version {champ_version}) was never evaluated on this "
            f"data set (sha256 {dataset[:12]}…), so {metric} cannot be compared; evaluate the "
            f"champion's configuration on it first (askdocs eval with models:/{name}@champion's "
            "settings), then promote again"
        )
    if not better_or_equal(metric, value, best):
        raise PromotionRefusedError(
            f"not promoted: version {version} has {metric} {value:.4f}, worse than the champion "
            f"(version {champ_version}) with {best:.4f} on the same data set "
            f"(sha256 {dataset[:12]}…); the champion stays"
        )
    client.set_registered_model_alias(name, CHAMPION, str(version))
    return Promotion(
        True,
        f"{metric} {value:.4f} ≥ champion's {best:.4f}",
        metric,
        value,
        best,
        champ_version,
    )


def _run_id(version: ModelVersion) -> str:
    if version.run_id:
        return str(version.run_id)
    tags = version.tags or {}
    if "run_id" in tags:
        return str(tags["run_id"])
    raise TrackingError(f"model version {version.version} has no evaluation run to compare")


def _champion_value(
    client: MlflowClient, champion: ModelVersion, dataset: str, key: str
) -> float | None:
    """The champion's metric on ``dataset``: from its own run, or from the latest run that
    evaluated the same configuration on that data set."""
    run = client.get_run(_run_id(champion))
    if run.data.params.get("dataset.sha256") == dataset and key in run.data.metrics:
        return float(run.data.metrics[key])
    config = run.data.params.get("config.sha256")
    if not config:
        return None
    runs = client.search_runs(
        [run.info.experiment_id],
        filter_string=(
            f"params.`config.sha256` = '{config}' and params.`dataset.sha256` = '{dataset}'"
        ),
        order_by=["attributes.start_time DESC"],
    )
    for other in runs:
        if key in other.data.metrics:
            return float(other.data.metrics[key])
    return None


def resolve_model_uri(client: MlflowClient, uri: str) -> tuple[str, str]:
    """``models:/NAME@alias`` or ``models:/NAME/3`` as (the version's URI, a folder name)."""
    match = _MODELS_URI.match(uri)
    if match is None:
        raise TrackingError(
            f"{uri!r} is not a registered model URI: use models:/NAME@champion or models:/NAME/3"
        )
    name = match["name"]
    require_mlflow()
    import mlflow

    try:
        if match["alias"]:
            version = str(client.get_model_version_by_alias(name, match["alias"]).version)
        else:
            version = str(client.get_model_version(name, match["version"]).version)
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(f"no registered model at {uri}: {exc.message}") from exc
    return f"models:/{name}/{version}", f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-v{version}"


def load_registered_settings(uri: str, base: Settings | None = None) -> Settings:
    """Settings that answer like the registered model at ``uri`` (``models:/NAME@champion``).

    The answering sections (embedder, chunking, retrieval, generator) come from the model;
    everything else (data dir, server, cache, the tracking store to look in) from ``base``,
    by default the environment's Settings. Custom embedder files are copied under
    DATA_DIR/models so they outlive the call.
    """
    mlflow = require_mlflow()
    from askdocs.evaluation.serving import CONFIG_ARTIFACT, CONFIG_FILE, settings_from_config

    base = base or Settings()
    client = connect(base)
    version_uri, folder_name = resolve_model_uri(client, uri)
    target = base.data_dir / "models" / folder_name
    if not (target / "MLmodel").is_file():
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=version_uri, dst_path=str(target))
    artifacts = _artifacts(target)
    config_path = artifacts.get(CONFIG_ARTIFACT)
    if config_path is None or not Path(config_path).name == CONFIG_FILE:
        raise TrackingError(f"{uri} is not an askdocs answering model (no {CONFIG_FILE})")
    config: dict[str, Any] = json.loads(Path(config_path).read_text(encoding="utf-8"))
    return settings_from_config(config, base, artifacts)


def _artifacts(model_dir: Path) -> dict[str, str]:
    """The pyfunc artifacts of a downloaded model folder, by name, as local paths."""
    import yaml

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
    pyfunc = mlmodel.get("flavors", {}).get("python_function", {})
    found = {}
    for name, entry in (pyfunc.get("artifacts") or {}).items():
        found[name] = str(model_dir / entry["path"])
    return found
