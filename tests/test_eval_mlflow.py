"""MLflow against a real local tracking store: run logging, registration, promotion and its
refusals, the pyfunc model loaded in-process and served by `mlflow models serve`, and
registered configurations turned back into Settings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from askdocs.container import Container
from askdocs.embed.onnx import default_onnx_path, default_tokenizer_path
from askdocs.errors import ConfigurationError
from askdocs.evaluation.configuration import answering_params, file_sha256
from askdocs.evaluation.errors import PromotionRefusedError, TrackingError
from askdocs.evaluation.metrics import QuestionResult
from askdocs.evaluation.report import EvalReport, write_reports
from askdocs.evaluation.runner import prepare_corpus
from askdocs.evaluation.tracking import (
    LoggedRun,
    connect,
    load_registered_settings,
    log_report,
    promote,
    register,
    require_mlflow,
)
from askdocs.settings import EvalSettings, GenerateSettings, RetrieveSettings, Settings
from test_eval_run import tiny_corpus

pytestmark = [pytest.mark.integration]

COLLECTION = "eval-mlflow"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite tracking store for the module: creating its tables takes seconds."""
    return tmp_path_factory.mktemp("mlflow")


def settings_for(store: Path, **update: Any) -> Settings:
    eval_settings = EvalSettings(
        tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
        artifact_location=(store / "artifacts").as_uri(),
    )
    return Settings(data_dir=store / "data", eval=eval_settings).model_copy(update=update)


def make_report(settings: Settings, ranks: list[int | None], dataset: str = "a" * 64) -> EvalReport:
    """A report whose answerable questions found their source at the given ranks."""
    results = [
        QuestionResult(
            id=f"q{i}",
            kind="identifier" if i % 2 else "howto",
            question=f"question {i}?",
            sources=(*(f"x{j}" for j in range(rank)), "gold") if rank is not None else (),
            expected=("gold",),
            negative=False,
            abstained=False,
            timings_ms={"total": 10.0 + i},
        )
        for i, rank in enumerate(ranks)
    ]
    results.append(
        QuestionResult("neg", "negative", "off topic?", (), (), negative=True, abstained=True)
    )
    return EvalReport(
        "run", "set", dataset, {"generate": False}, answering_params(settings), results, 1.0
    )


def log(settings: Settings, report: EvalReport, tmp_path: Path) -> LoggedRun:
    paths = write_reports(report, tmp_path / report.dataset_sha256[:8], worst_n=3)
    return log_report(settings, report, list(paths))


def test_run_logs_params_metrics_reports_and_the_model(store: Path, tmp_path: Path) -> None:
    settings = settings_for(store, generate=GenerateSettings(openai_api_key="sk-never-logged"))
    report = make_report(settings, [0, 0, 2, None])
    logged = log(settings, report, tmp_path)
    client = connect(settings)
    run = client.get_run(logged.run_id)
    params, metrics = run.data.params, run.data.metrics
    assert params["dataset.sha256"] == "a" * 64 and params["dataset.questions"] == "5"
    assert params["model.embed_onnx.sha256"] == file_sha256(default_onnx_path())
    assert params["model.embed_tokenizer.sha256"] == file_sha256(default_tokenizer_path())
    assert len(params["model.generate_gguf.sha256"]) == 64
    assert params["prompt.version"] and len(params["prompt.sha256"]) == 64
    assert params["retrieve.abstain_threshold"] == "0.4" and params["chunk.target_tokens"] == "128"
    assert params["eval.generate"] == "false"
    assert not any("sk-never-logged" in v for v in params.values())
    assert metrics["hit_at_1"] == 0.5 and metrics["hit_at_3"] == 0.75
    assert metrics["mrr_at_10"] == pytest.approx((1 + 1 + 1 / 3) / 4)
    assert metrics["abstention_accuracy"] == 1.0
    # howto: ranks 0 and 2; identifier: ranks 0 and none.
    assert metrics["howto/hit_at_1"] == 0.5 and metrics["howto/hit_at_3"] == 1.0
    assert metrics["identifier/hit_at_3"] == 0.5
    assert run.data.tags["askdocs.dataset_sha256"] == "a" * 64
    artifacts = {a.path for a in client.list_artifacts(logged.run_id, "reports")}
    assert artifacts == {"reports/report.json", "reports/report.md"}
    mlflow = require_mlflow()
    model_dir = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(tmp_path)))
    config = json.loads((model_dir / "artifacts" / "answering.json").read_text(encoding="utf-8"))
    assert config["settings"]["retrieve"]["abstain_threshold"] == 0.4
    assert "openai_api_key" not in config["settings"]["generate"]
    assert config["params"]["config.sha256"] == params["config.sha256"]


def test_promotion_moves_the_champion_only_when_not_worse(store: Path, tmp_path: Path) -> None:
    settings = settings_for(store)
    client = connect(settings)
    name = "promotion"
    v1 = register(settings, log(settings, make_report(settings, [0, 0, 1, 3]), tmp_path), name)
    first = promote(settings, name, v1)
    assert first.promoted and first.reason == "no champion yet"
    # Worse on hit@5 on the same data set: refused, the champion stays.
    v2 = register(settings, log(settings, make_report(settings, [0, 9, 9, 3]), tmp_path), name)
    with pytest.raises(PromotionRefusedError, match=r"hit@5 0\.5000, worse than the champion"):
        promote(settings, name, v2)
    assert int(client.get_model_version_by_alias(name, "champion").version) == v1
    # As good: promoted.
    v3 = register(settings, log(settings, make_report(settings, [1, 2, 3, 4]), tmp_path), name)
    third = promote(settings, name, v3)
    assert third.promoted and third.champion == 1.0 and third.champion_version == v1
    assert int(client.get_model_version_by_alias(name, "champion").version) == v3


def test_promotion_compares_on_the_same_data_set_only(store: Path, tmp_path: Path) -> None:
    settings = settings_for(store)
    candidate = settings_for(store, retrieve=RetrieveSettings(k=6))
    name = "datasets"
    v1 = register(settings, log(settings, make_report(settings, [0, 0]), tmp_path), name)
    promote(settings, name, v1)
    other = "b" * 64
    v2 = register(candidate, log(candidate, make_report(candidate, [0, 0], other), tmp_path), name)
    with pytest.raises(PromotionRefusedError, match="never evaluated on this data set"):
        promote(candidate, name, v2)
    # Once the champion's configuration has a run on that data set, the two compare.
    log(settings, make_report(settings, [0, 9], other), tmp_path)
    decision = promote(candidate, name, v2)
    assert decision.promoted and decision.champion == 0.5 and decision.candidate == 1.0


def test_promotion_refuses_a_metric_the_run_did_not_measure(store: Path, tmp_path: Path) -> None:
    settings = settings_for(store)
    version = register(settings, log(settings, make_report(settings, [0]), tmp_path), "unmeasured")
    answer_metric = settings.model_copy(
        update={"eval": settings.eval.model_copy(update={"primary_metric": "answer_match"})}
    )
    with pytest.raises(PromotionRefusedError, match="not measured on answer_match"):
        promote(answer_metric, "unmeasured", version)


def test_registered_settings_round_trip_with_a_custom_embedder(store: Path, tmp_path: Path) -> None:
    onnx = tmp_path / "custom" / "model.onnx"
    onnx.parent.mkdir()
    shutil.copyfile(default_onnx_path(), onnx)
    settings = settings_for(store, retrieve=RetrieveSettings(k=7, abstain_threshold=0.33))
    settings = settings.model_copy(
        update={"embed": settings.embed.model_copy(update={"onnx_path": onnx})}
    )
    register(settings, log(settings, make_report(settings, [0]), tmp_path), "roundtrip")
    promote(settings, "roundtrip", 1)
    onnx.unlink()  # the registered model carries its own copy
    base = settings_for(store).model_copy(update={"data_dir": tmp_path / "serving"})
    loaded = load_registered_settings("models:/roundtrip@champion", base)
    assert loaded.retrieve.k == 7 and loaded.retrieve.abstain_threshold == 0.33
    assert loaded.data_dir == tmp_path / "serving"
    assert loaded.embed.onnx_path is not None and loaded.embed.onnx_path.is_file()
    assert loaded.embed.onnx_path.is_relative_to(tmp_path / "serving" / "models")
    assert file_sha256(loaded.embed.onnx_path) == file_sha256(default_onnx_path())
    assert loaded.embed.tokenizer_path is None  # the bundled tokenizer, checked by hash
    assert load_registered_settings("models:/roundtrip/1", base).retrieve.k == 7
    with pytest.raises(TrackingError, match="not a registered model URI"):
        load_registered_settings("runs:/abc/model", base)
    with pytest.raises(TrackingError, match="no registered model"):
        load_registered_settings("models:/roundtrip@nobody", base)


def test_a_registered_model_file_that_changed_is_refused(store: Path) -> None:
    from askdocs.evaluation.serving import answering_config, settings_from_config

    settings = settings_for(store)
    config = answering_config(settings)
    config["params"]["model.generate_gguf.sha256"] = "0" * 64
    with pytest.raises(ConfigurationError, match="is not the one the configuration was"):
        settings_from_config(config, settings, {})


@pytest.fixture(scope="module")
def champion(
    store: Path, real_container: Container, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, Path]:
    """A registered champion, and a data dir with a small corpus ingested by the real models."""
    tmp = tmp_path_factory.mktemp("champion")
    prepare_corpus(real_container, tiny_corpus(tmp / "corpus"), COLLECTION)
    settings = settings_for(store)
    version = register(settings, log(settings, make_report(settings, [0]), tmp), "askdocs-rag")
    promote(settings, "askdocs-rag", version)
    return settings, real_container.settings.data_dir


QUESTIONS = ["How many days are backups kept?", "Who won the FIFA World Cup in 2014?"]


def check_predictions(rows: list[dict[str, Any]]) -> None:
    assert [r["question"] for r in rows] == QUESTIONS
    assert rows[0]["abstained"] is False and rows[1]["abstained"] is True
    sources = json.loads(rows[0]["sources"])
    assert Path(sources[0]["source"]).name == "backups.md" and sources[0]["n"] == 1


@pytest.mark.slow
def test_pyfunc_model_answers_against_a_data_dir(champion: tuple[Settings, Path]) -> None:
    import pandas as pd

    settings, data_dir = champion
    mlflow = require_mlflow()
    connect(settings)
    model = mlflow.pyfunc.load_model(
        "models:/askdocs-rag@champion", model_config={"data_dir": str(data_dir)}
    )
    frame = pd.DataFrame({"question": QUESTIONS, "collection": [COLLECTION] * 2})
    out = model.predict(frame, params={"generate": False})
    check_predictions(out.to_dict(orient="records"))
    # The data dir can also come with the request.
    empty = model.predict(frame, params={"generate": False, "data_dir": str(settings.data_dir)})
    assert list(empty["abstained"]) == [True, True]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(champion: tuple[Settings, Path], tmp_path: Path) -> Iterator[str]:
    """`mlflow models serve` of the champion in its own process group, stopped afterwards."""
    settings, data_dir = champion
    port = free_port()
    env = {
        **os.environ,
        # The scoring server starts `uvicorn` from PATH: this environment's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": str(settings.eval.tracking_uri),
        "ASKDOCS_DATA_DIR": str(data_dir),
    }
    log_file = (tmp_path / "serve.log").open("wb")
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m"]
    command += ["models:/askdocs-rag@champion", "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow models serve did not answer /ping within 120 s")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log_file.close()


@pytest.mark.slow
def test_mlflow_models_serve_answers_over_http(served: str) -> None:
    body = {
        "dataframe_records": [{"question": q, "collection": COLLECTION} for q in QUESTIONS],
        "params": {"generate": False},
    }
    response = httpx.post(f"{served}/invocations", json=body, timeout=120)
    assert response.status_code == 200, response.text
    check_predictions(response.json()["predictions"])


def test_serve_model_builds_the_app_from_the_registered_configuration(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from askdocs.api.app import app_from_settings

    settings = settings_for(store, retrieve=RetrieveSettings(k=4, abstain_threshold=0.31))
    register(settings, log(settings, make_report(settings, [0]), tmp_path), "served")
    promote(settings, "served", 1)
    assert settings.eval.tracking_uri is not None
    monkeypatch.setenv("ASKDOCS_EVAL__TRACKING_URI", settings.eval.tracking_uri)
    monkeypatch.setenv("ASKDOCS_EVAL__ARTIFACT_LOCATION", str(settings.eval.artifact_location))
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(tmp_path / "serving"))
    monkeypatch.setenv("ASKDOCS_SERVE_MODEL", "models:/served@champion")
    app = app_from_settings()
    served = app.state.container.settings
    assert (served.retrieve.k, served.retrieve.abstain_threshold) == (4, 0.31)
    assert served.data_dir == tmp_path / "serving"
