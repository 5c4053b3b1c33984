"""Where pifu keeps its state: the data directory, the Dagster instance, the default warehouse and lake."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("PIFU_DATA_DIR") or ROOT / "data")


def lake_dir() -> Path:
    return Path(os.environ.get("PIFU_LAKE_DIR") or data_dir() / "lake")


def warehouse_url() -> str:
    return os.environ.get("PIFU_WAREHOUSE_URL") or f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


def inbox() -> Path:
    return Path(os.environ.get("PIFU_INBOX") or data_dir() / "inbox")


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at data/dagster unless set, and give it the project's dagster.yaml."""
    _pin_dagster_pg_driver()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir() / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        text = (ROOT / "dagster.yaml").read_text(encoding="utf-8")
        if os.environ.get("PIFU_DAGSTER_STORAGE") == "postgres":
            text += "storage:\n  postgres:\n    postgres_url:\n      env: PIFU_DAGSTER_PG_URL\n"
        target.write_text(text, encoding="utf-8")
    return home


def _pin_dagster_pg_driver() -> None:
    """SQLAlchemy 2.1 opens a bare postgresql:// URL with psycopg 3, on which dagster-postgres 0.29 cannot
    store a single event (it binds NOTIFY's payload as a query parameter); it is written for psycopg2."""
    url = os.environ.get("PIFU_DAGSTER_PG_URL", "")
    if url.startswith("postgresql://"):
        os.environ["PIFU_DAGSTER_PG_URL"] = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
