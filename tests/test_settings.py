"""Settings: defaults, environment (nested with __) and askdocs.toml, in that order of strength."""

from __future__ import annotations

from pathlib import Path

import pytest

from askdocs.settings import Settings


def test_environment_overrides_toml_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("ASKDOCS_DATA_DIR", "ASKDOCS_RETRIEVE__K"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().retrieve.k == 5
    (tmp_path / "askdocs.toml").write_text(
        'data_dir = "/srv/askdocs"\n[retrieve]\nk = 8\nfusion = "rrf"\n', encoding="utf-8"
    )
    settings = Settings()
    assert settings.data_dir == Path("/srv/askdocs")
    assert (settings.retrieve.k, settings.retrieve.fusion) == (8, "rrf")
    monkeypatch.setenv("ASKDOCS_RETRIEVE__K", "3")
    monkeypatch.setenv("ASKDOCS_GENERATE__BACKEND", "openai")
    settings = Settings()
    assert settings.retrieve.k == 3 and settings.retrieve.fusion == "rrf"
    assert settings.generate.backend == "openai"


def test_invalid_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKDOCS_RETRIEVE__FUSION", "magic")
    with pytest.raises(ValueError, match="fusion"):
        Settings()
