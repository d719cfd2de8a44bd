"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout (CI lays it there), or $DMFREC_SHARED_DATA."""
    for candidate in (os.environ.get("DMFREC_SHARED_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data sets not found (../shared/data); synthetic tests still run")
    return path
