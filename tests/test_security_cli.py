"""`askdocs info` prints the effective settings without their secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askdocs.cli.app import app as cli
from askdocs.cli.redaction import redact_secrets, redact_url


def test_info_prints_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no askdocs.toml of the checkout
    env = {
        "ASKDOCS_DATA_DIR": str(tmp_path / "data"),
        "ASKDOCS_GENERATE__OPENAI_API_KEY": "sk-live-4242",
        "ASKDOCS_GENERATE__OPENAI_BASE_URL": "https://gpu:pw-base@llm.internal/v1",
        "ASKDOCS_CACHE_URL": "redis://:hunter2@127.0.0.1:1/0",  # nothing listens: no cache
        "ASKDOCS_EVAL__TRACKING_URI": "https://ml.example/?sig=sas-sig-77&sv=2024",
    }
    result = CliRunner().invoke(cli, ["info"], env=env)
    assert result.exit_code == 0, result.output
    for secret in ("sk-live-4242", "pw-base", "hunter2", "sas-sig-77"):
        assert secret not in result.output
    settings = json.loads(result.output[result.output.index("{") :])["settings"]
    assert settings["generate"]["openai_api_key"] == "***"
    assert settings["generate"]["openai_base_url"] == "https://gpu:***@llm.internal/v1"
    assert settings["cache_url"] == "redis://:***@127.0.0.1:1/0"
    assert settings["eval"]["tracking_uri"] == "https://ml.example/?sig=***&sv=2024"
    assert settings["generate"]["max_answer_tokens"] == 256  # not a secret for its name


def test_urls_keep_what_is_not_secret() -> None:
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
    assert redact_url("https://ghp_token123@git.example/x") == "https://***@git.example/x"
    assert redact_url("az://acct/c?sv=2024&sig=abc%2F&se=1") == "az://acct/c?sv=2024&sig=***&se=1"
    assert redact_secrets({"k": 5, "openai_api_key": None, "password": "p"}) == {
        "k": 5,
        "openai_api_key": None,
        "password": "***",
    }
