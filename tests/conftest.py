from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "ezhou-trade-union-2025.txt"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLE
