"""The processing models: one SQL file per model in this package, their headers, dependencies and run order.

(A package rather than the ``analytics/models.py`` module the plan named: a module and a package cannot share
the name, and the SQL files are package data either way.)

Every model is one SELECT in DuckDB SQL, restricted to what sqlglot translates cleanly to Spark SQL, so the same
file runs on both engines. A model file starts with a header of ``--`` comment lines saying what it computes, from
what, and its grain (a ``Grain:`` line); the header is documentation and is not sent to the engines.

Names say the layer: ``clean_<table>`` is the latest version of each row of ``raw_<table>`` (the lake's table
of the shop's <table>, which the runner registers as a view over its current snapshot), other non-mart models are
shared intermediate steps, and ``mart_*`` models are what the runner commits to the lake for the dashboards.

Dependencies are not declared by hand: they are the tables a model's SQL reads (sqlglot's exp.Table nodes,
minus the model's own CTEs). A reference to neither a model nor a raw table, or a cycle, is a ModelError
naming the model.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from lakefront.analytics.errors import ModelError

DIALECT = "duckdb"
RAW_PREFIX = "raw_"
MART_PREFIX = "mart_"


@dataclass(frozen=True)
class Model:
    name: str
    header: str
    """The leading comment block, without the ``--`` markers."""
    sql: str
    """The SELECT, without the header: what the engines run."""
    models: frozenset[str]
    """Other models this one reads."""
    raw_tables: frozenset[str]
    """Extracted tables it reads through their ``raw_<table>`` views (names without the prefix)."""

    @property
    def is_mart(self) -> bool:
        return self.name.startswith(MART_PREFIX)

    @property
    def summary(self) -> str:
        """The header's first line: what the model computes."""
        return self.header.splitlines()[0]


def model_files() -> dict[str, str]:
    """{model name: file text} of every ``*.sql`` file in this package."""
    found = {}
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".sql") and entry.is_file():
            found[entry.name.removesuffix(".sql")] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


def split_header(name: str, text: str) -> tuple[str, str]:
    """(header, body) of a model file; ModelError if it has no header or the header states no grain."""
    lines = text.lstrip("\ufeff").splitlines()
    header: list[str] = []
    for line in lines:
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    body = "\n".join(lines[len(header):]).strip().rstrip(";").strip()
    if not header or not header[0]:
        raise ModelError(f"model {name}: the file must start with a -- header saying what it computes")
    if not any(line.startswith("Grain:") for line in header):
        raise ModelError(f"model {name}: the header must state the model's grain on a 'Grain:' line")
    if not body:
        raise ModelError(f"model {name}: no SQL after the header")
    return "\n".join(header), body


def parse_select(sql: str) -> exp.Query:
    """The one SELECT statement `sql` holds; ValueError saying what is wrong otherwise."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except ParseError as exc:
        raise ValueError(f"does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ValueError("must be exactly one SELECT statement")
    return statements[0]


def tables_read(tree: exp.Query) -> set[str]:
    """Names of the tables a SELECT reads, without its own CTEs."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return {table.name.lower() for table in tree.find_all(exp.Table) if table.name} - ctes


def referenced_tables(name: str, sql: str) -> set[str]:
    """Names of the tables `sql` reads, without its own CTEs; ModelError unless it is one SELECT."""
    try:
        return tables_read(parse_select(sql))
    except ValueError as exc:
        raise ModelError(f"model {name}: SQL {exc}") from None


def parse_model(name: str, text: str, *, known: Iterable[str] | None = None) -> Model:
    """Build a Model from its file; `known`: names of every model, to check references (None: skip the check)."""
    header, body = split_header(name, text)
    tables = referenced_tables(name, body)
    raw = {t.removeprefix(RAW_PREFIX) for t in tables if t.startswith(RAW_PREFIX)}
    models = tables - {RAW_PREFIX + t for t in raw}
    if known is not None:
        unknown = models - set(known)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ModelError(f"model {name}: unknown table {names} (neither a model nor raw_<table>)")
    return Model(name, header, body, frozenset(models), frozenset(raw))


def load_models(files: Mapping[str, str] | None = None) -> dict[str, Model]:
    """Every model, checked: headers, SQL, references and the absence of cycles."""
    texts = model_files() if files is None else dict(files)
    models = {name: parse_model(name, text, known=texts) for name, text in texts.items()}
    execution_order(models)
    return models


def execution_order(models: Mapping[str, Model], wanted: Iterable[str] | None = None) -> list[str]:
    """The models to run (`wanted` and everything they read; default: all), each after what it reads.

    Deterministic: among models ready at the same time, alphabetical order.
    """
    selected = closure(models, wanted) if wanted is not None else set(models)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in sorted(selected):
        sorter.add(name, *sorted(models[name].models))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        raise ModelError(f"model {cycle[0]}: dependency cycle {' -> '.join(cycle)}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def closure(models: Mapping[str, Model], wanted: Iterable[str]) -> set[str]:
    """`wanted` and every model they read, directly or not; ModelError for a name that is not a model."""
    selected: set[str] = set()
    stack = list(wanted)
    for name in stack:
        if name not in models:
            marts = ", ".join(n for n in sorted(models) if models[n].is_mart)
            raise ModelError(f"unknown model {name!r}; models: {marts} (or any clean_/sales_ model)")
    while stack:
        name = stack.pop()
        if name in selected:
            continue
        selected.add(name)
        stack.extend(models[name].models)
    return selected


def raw_tables(models: Mapping[str, Model], names: Iterable[str]) -> list[str]:
    """The extracted tables the models `names` read, by name. Whether the extract provides them is the
    pipeline's concern (a test checks every model's raw tables against the extract's list), not the models'."""
    return sorted({table for name in names for table in models[name].raw_tables})
