"""Dashboards as code (the QuickSight role): one TOML file per dashboard in this package, and datasets.toml.

``datasets.toml`` has one table per dataset (``[revenue_daily]``): a mart, or one SELECT over marts with the
filters bound as parameters (see spec.py). ``<id>.toml`` is a dashboard: id, title, description, dates (the
'<mart>.<column>' giving its date bounds), ``[[filters]]`` and ``[[visuals]]`` in layout order, each with its
width in grid columns (of 12), its dataset, the filters that apply to it, its encoding, formats and drill-down.

`load_catalog` reads and checks everything; every app instance calls it at start-up, so a bad definition stops
the process with one line naming the dashboard and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import sqlglot
from pydantic import ValidationError
from sqlglot import exp

from lakefront.analytics.dashboards.spec import (
    KPI_COLUMNS,
    Dashboard,
    DashboardError,
    DashboardSpec,
    Dataset,
    DatasetSpec,
    check_name,
    pydantic_error,
)
from lakefront.analytics.models import load_models

DATASETS_FILE = "datasets.toml"

__all__ = ["KPI_COLUMNS", "Catalog", "Dashboard", "DashboardError", "Dataset", "definition_files", "load_catalog",
           "mart_columns"]


@dataclass(frozen=True)
class Catalog:
    datasets: dict[str, Dataset]
    dashboards: dict[str, Dashboard]
    """In the order the dashboards list shows them (ORDER, then by id)."""


def definition_files() -> dict[str, str]:
    """{file name: text} of every ``*.toml`` file in this package."""
    found = {}
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".toml") and entry.is_file():
            found[entry.name] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


def mart_columns() -> dict[str, list[str]]:
    """{mart: its output columns}, read from the models' SQL (no lake needed)."""
    found = {}
    for name, model in load_models().items():
        if model.is_mart:
            tree = sqlglot.parse_one(model.sql, read="duckdb")
            assert isinstance(tree, exp.Query)  # load_models checked it is one SELECT
            found[name] = list(tree.named_selects)
    return found


def _toml(name: str, text: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DashboardError(f"{name}: not valid TOML: {exc}") from None


ORDER = ("sales", "customers", "funnel", "inventory")
"""The order the dashboards list shows; others follow by id."""


def load_catalog(files: Mapping[str, str] | None = None, marts: dict[str, list[str]] | None = None) -> Catalog:
    """Every dataset and dashboard, checked; DashboardError (one line naming the file and field) otherwise."""
    texts = definition_files() if files is None else dict(files)
    marts = mart_columns() if marts is None else marts
    if DATASETS_FILE not in texts:
        raise DashboardError(f"{DATASETS_FILE}: missing")
    datasets = {}
    for name, raw in _toml(DATASETS_FILE, texts[DATASETS_FILE]).items():
        check_name("dataset", name)
        if not isinstance(raw, dict):
            raise DashboardError(f"dataset {name}: must be a table ([{name}])")
        try:
            spec = DatasetSpec.model_validate(raw)
        except ValidationError as exc:
            raise pydantic_error(f"dataset {name}", exc) from None
        datasets[name] = Dataset(name, spec, marts)
    dashboards = {}
    for file, text in texts.items():
        if file == DATASETS_FILE:
            continue
        stem = file.removesuffix(".toml")
        raw = _toml(file, text)
        try:
            board = DashboardSpec.model_validate(raw)
        except ValidationError as exc:
            raise pydantic_error(f"dashboard {raw.get('id') or stem}", exc) from None
        if board.id != stem:
            raise DashboardError(f"dashboard {board.id}: id: must be the file's name ({stem!r})")
        dashboards[board.id] = Dashboard(board, datasets, marts)
    ordered = sorted(dashboards, key=lambda d: (ORDER.index(d) if d in ORDER else len(ORDER), d))
    return Catalog(datasets, {d: dashboards[d] for d in ordered})
