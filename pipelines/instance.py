"""Where pifu keeps its state: the data directory, the Dagster instance, the default warehouse and lake."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
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


def region() -> str:
    """The region runs of this process load (PIFU_REGION, `pifu run --region`): "" for none."""
    return os.environ.get("PIFU_REGION", "").strip()


def region_slug(name: str = "") -> str:
    """The slug of `name`, or of PIFU_REGION when it is "": "" for none."""
    from pifu.regions import slug

    name = name or region()
    return slug(name) if name else ""


def data_path(base: str = "", region_name: str = "") -> Path:
    """The data directory of a run: `base` or PIFU_DATA_DIR, the region's folder inside it with a region."""
    from pifu.regions import REGIONS

    root = Path(base or data_dir())
    name = region_slug(region_name)
    return root / REGIONS / name if name else root


def lake_path(base: str = "", region_name: str = "") -> Path:
    """The lake of a run: `base` or PIFU_LAKE_DIR, the region's lake with a region."""
    from pifu.regions import lake

    root = base or lake_dir()
    name = region_slug(region_name)
    return Path(lake(root, name)) if name else Path(root)


def region_warehouse_url(url: str = "", region_name: str = "") -> str:
    """The warehouse of a run: `url` or PIFU_WAREHOUSE_URL, the region's database or schema with a region."""
    from pifu.regions import warehouse_url as of_region

    url = url or warehouse_url()
    name = region_slug(region_name)
    return of_region(url, name) if name else url


def inbox_regions() -> bool:
    """PIFU_INBOX_REGIONS=1: the inbox holds one folder per region (inbox/<region>/...)."""
    return os.environ.get("PIFU_INBOX_REGIONS", "").strip().lower() in ("1", "true", "yes")


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at data/dagster unless set, and give it the project's dagster.yaml."""
    _pin_dagster_pg_driver()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir() / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.exists():
        return home
    with home_lock():
        _write_dagster_yaml(target)
    return home


_LOCAL_STORAGE = "# (everything from here on is replaced by the postgres block"  # in the project's dagster.yaml


def _write_dagster_yaml(target: Path) -> None:
    # Written to a temp file and renamed: a run starting beside this one reads all of it or none.
    if not target.exists():
        text = (ROOT / "dagster.yaml").read_text(encoding="utf-8")
        if os.environ.get("PIFU_DAGSTER_STORAGE") == "postgres":
            text = text[:text.index(_LOCAL_STORAGE)]
            text += "storage:\n  postgres:\n    postgres_url:\n      env: PIFU_DAGSTER_PG_URL\n"
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)


@contextmanager
def home_lock():
    """Serializes, across processes, what must happen once in DAGSTER_HOME: writing dagster.yaml,
    creating and migrating the SQLite storages (two first runs at once left an alembic_version with
    two heads), adding dynamic partitions. Held for moments, never for a run."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / ".pifu-instance.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def open_instance():
    """The Dagster instance of DAGSTER_HOME, its storages created and migrated under `home_lock`."""
    import dagster as dg

    ensure_dagster_home()
    with home_lock():
        instance = dg.DagsterInstance.get()
        try:
            # Touch every storage while the lock is held: SQLite storages create their schema on first use.
            instance.get_runs(limit=1)
            instance.get_dynamic_partitions("fiscal_year")
            instance.all_instigator_state()
        except BaseException:
            instance.dispose()
            raise
    with instance:
        yield instance


def _pin_dagster_pg_driver() -> None:
    """SQLAlchemy 2.1 opens a bare postgresql:// URL with psycopg 3, on which dagster-postgres 0.29 cannot
    store a single event (it binds NOTIFY's payload as a query parameter); it is written for psycopg2."""
    url = os.environ.get("PIFU_DAGSTER_PG_URL", "")
    if url.startswith("postgresql://"):
        os.environ["PIFU_DAGSTER_PG_URL"] = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
