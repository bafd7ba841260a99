"""The dashboard spec: datasets, visuals, filters and layout, as pydantic models, and the checks across them.

A dataset is a mart (``mart = "mart_daily_sales"``, optionally filtered on a date and a category column) or one
SQL SELECT over marts (``sql = ...``) that reads the filters as bound parameters: ``$date_from`` and ``$date_to``
(DATE or NULL, inclusive) for the date filter, ``$category_id`` (BIGINT or NULL) for the category filter. Values
are never formatted into the SQL.

Dashboards are checked against the datasets and the marts the models package defines (their output columns come
from the models' SQL, so no lake is needed): every error is one line naming the dashboard and the field, e.g.
``dashboard sales: visuals[2].dataset: unknown dataset 'x'``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlglot import exp

from lakefront.analytics.errors import AnalyticsError
from lakefront.analytics.models import parse_select, tables_read

FILTER_TYPES = {"date": "date_range", "category": "category"}
"""The filters a dashboard may offer: id -> type. The HTTP query names them from/to and category."""
FILTER_PARAMETERS = {"date": ("date_from", "date_to"), "category": ("category_id",)}
"""The SQL parameters each filter binds."""
FORMATS = ("cents", "count", "percent", "date", "text", "days")
VISUAL_TYPES = ("kpi", "line", "bar", "table", "heatmap")
CATEGORIES_MART = "mart_categories"
"""Where the category filter's slugs, names and ids come from."""
_IDENT = r"^[a-z][a-z0-9_]{0,62}$"

FilterId = Literal["date", "category"]
Format = Literal["cents", "count", "percent", "date", "text", "days"]


class DashboardError(AnalyticsError):
    """A dashboard or dataset definition is invalid; the message is one line naming the file and the field."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Spec):
    """A mart, or one SELECT over marts."""

    description: str = ""
    mart: str | None = None
    """Read this mart as it is (with `date_column`/`category_column` as filters, `order_by`)."""
    date_column: str | None = None
    category_column: str | None = None
    order_by: list[str] = []
    sql: str | None = None
    """One SELECT over marts, reading the filters as $date_from, $date_to, $category_id."""
    filters: list[FilterId] = []
    """SQL datasets: the filters it takes (it must read exactly their parameters). Mart datasets: derived."""


class FilterSpec(_Spec):
    id: FilterId
    type: Literal["date_range", "category"]
    default_days: int | None = Field(None, ge=1, le=3660)
    """date_range only: the length of the default period, ending on the latest day with data."""


class Encoding(_Spec):
    x: str | None = None
    y: str | list[str] | None = None
    series: str | None = None
    value: str | None = None
    """heatmap: the column that colours a cell."""

    def columns(self) -> list[tuple[str, str]]:
        """(field, column) of every column the encoding names."""
        found: list[tuple[str, str]] = []
        for name in ("x", "series", "value"):
            value = getattr(self, name)
            if value is not None:
                found.append((name, value))
        if isinstance(self.y, str):
            found.append(("y", self.y))
        elif self.y is not None:
            found.extend((f"y[{i}]", column) for i, column in enumerate(self.y))
        return found


class Drill(_Spec):
    filter: FilterId
    field: str
    """The column whose value (of the clicked mark) the filter takes; for category, a category slug."""


class Metric(_Spec):
    id: str = Field(pattern=_IDENT)
    label: str
    column: str
    format: Format = "count"


class VisualSpec(_Spec):
    id: str = Field(pattern=_IDENT)
    title: str
    type: Literal["kpi", "line", "bar", "table", "heatmap"]
    dataset: str
    filters: list[FilterId] = []
    """The dashboard's filters that apply to this visual."""
    width: int = Field(6, ge=1, le=12)
    """Grid columns (of 12) the visual spans; visuals are laid out in order, left to right."""
    encoding: Encoding = Encoding()
    format: dict[str, Format] = {}
    drill: Drill | None = None
    metrics: list[Metric] = []
    """kpi only: one metric per row, read from the dataset's 'current' and 'previous' period rows."""


class DashboardSpec(_Spec):
    id: str = Field(pattern=_IDENT)
    title: str
    description: str = ""
    dates: str | None = None
    """'<mart>.<column>' whose range is the dashboard's date bounds; required with a date filter."""
    filters: list[FilterSpec] = []
    visuals: list[VisualSpec] = Field(min_length=1)


def _where(loc: tuple[Any, ...]) -> str:
    """('visuals', 2, 'width') -> 'visuals[2].width'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def pydantic_error(owner: str, error: ValidationError) -> DashboardError:
    first = error.errors()[0]
    return DashboardError(f"{owner}: {_where(tuple(first['loc']))}: {first['msg']}")


class Dataset:
    """A checked dataset: the SQL the service runs, the parameters it binds, its columns and the marts it reads."""

    def __init__(self, name: str, spec: DatasetSpec, marts: dict[str, list[str]]) -> None:
        self.name, self.spec = name, spec
        owner = f"dataset {name}"
        if (spec.mart is None) == (spec.sql is None):
            raise DashboardError(f"{owner}: give exactly one of mart or sql")
        if spec.mart is not None:
            self.sql, self.columns, self.marts, self.filters = self._from_mart(owner, spec, marts)
        else:
            self.sql, self.columns, self.marts, self.filters = self._from_sql(owner, spec, marts)
        self.parameters = tuple(p for f in self.filters for p in FILTER_PARAMETERS[f])

    @staticmethod
    def _from_mart(owner: str, spec: DatasetSpec,
                   marts: dict[str, list[str]]) -> tuple[str, list[str], tuple[str, ...], tuple[str, ...]]:
        mart = str(spec.mart)
        if mart not in marts:
            raise DashboardError(f"{owner}: mart: unknown mart {mart!r}")
        columns = marts[mart]
        for field in ("date_column", "category_column"):
            value = getattr(spec, field)
            if value is not None and value not in columns:
                raise DashboardError(f"{owner}: {field}: {mart} has no column {value!r}")
        for i, column in enumerate(spec.order_by):
            if column not in columns:
                raise DashboardError(f"{owner}: order_by[{i}]: {mart} has no column {column!r}")
        if spec.filters:
            raise DashboardError(f"{owner}: filters: a mart dataset's filters are its date_column and category_column")
        where, filters = [], []
        if spec.date_column:
            column = _quote(spec.date_column)
            where += [f"(CAST($date_from AS DATE) IS NULL OR {column} >= CAST($date_from AS DATE))",
                      f"(CAST($date_to AS DATE) IS NULL OR {column} <= CAST($date_to AS DATE))"]
            filters.append("date")
        if spec.category_column:
            column = _quote(spec.category_column)
            where.append(f"(CAST($category_id AS BIGINT) IS NULL OR {column} = CAST($category_id AS BIGINT))")
            filters.append("category")
        # A mart name from the definitions, quoted; filters are bound.
        sql = f"SELECT * FROM {_quote(mart)}"  # nosec B608
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = spec.order_by or columns
        sql += " ORDER BY " + ", ".join(_quote(c) for c in order)
        return sql, list(columns), (mart,), tuple(filters)

    @staticmethod
    def _from_sql(owner: str, spec: DatasetSpec,
                  marts: dict[str, list[str]]) -> tuple[str, list[str], tuple[str, ...], tuple[str, ...]]:
        sql = str(spec.sql).strip().rstrip(";").strip()
        try:
            tree = parse_select(sql)
        except ValueError as exc:
            raise DashboardError(f"{owner}: sql: {exc}") from None
        tables = sorted(tables_read(tree))
        for table in tables:
            if table not in marts:
                raise DashboardError(f"{owner}: sql: unknown mart {table!r} (datasets read marts only)")
        columns = list(tree.named_selects)
        if "*" in columns or any(not c for c in columns) or len(set(columns)) != len(columns):
            raise DashboardError(f"{owner}: sql: name every output column once (no *, no unnamed expressions)")
        used = {p.name for p in tree.find_all(exp.Placeholder)}
        known = {p for f in FILTER_PARAMETERS.values() for p in f}
        if used - known:
            raise DashboardError(f"{owner}: sql: unknown parameter ${sorted(used - known)[0]} "
                                 f"(parameters: {', '.join('$' + p for p in sorted(known))})")
        for filter_id in spec.filters:
            missing = [p for p in FILTER_PARAMETERS[filter_id] if p not in used]
            if missing:
                raise DashboardError(f"{owner}: filters: takes {filter_id} but the sql never reads ${missing[0]}")
        undeclared = sorted(f for f, params in FILTER_PARAMETERS.items()
                            if f not in spec.filters and used & set(params))
        if undeclared:
            raise DashboardError(f"{owner}: filters: the sql reads the {undeclared[0]} filter's parameters; "
                                 f"declare it")
        filters = tuple(f for f in FILTER_PARAMETERS if f in spec.filters)
        return sql, columns, tuple(tables), filters


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


KPI_COLUMNS = ["metric", "label", "value", "previous", "change_pct", "format"]
"""The columns of a kpi visual's rows (one row per metric)."""


class Dashboard:
    """A checked dashboard."""

    def __init__(self, spec: DashboardSpec, datasets: dict[str, Dataset], marts: dict[str, list[str]]) -> None:
        self.spec = spec
        self.id = spec.id
        owner = f"dashboard {spec.id}"
        filter_ids: list[str] = []
        for i, f in enumerate(spec.filters):
            if FILTER_TYPES[f.id] != f.type:
                raise DashboardError(f"{owner}: filters[{i}].type: filter {f.id} is a {FILTER_TYPES[f.id]}")
            if f.default_days is not None and f.type != "date_range":
                raise DashboardError(f"{owner}: filters[{i}].default_days: only a date_range has a default")
            if f.id in filter_ids:
                raise DashboardError(f"{owner}: filters[{i}].id: duplicate filter {f.id!r}")
            filter_ids.append(f.id)
        self.dates: tuple[str, str] | None = None
        if spec.dates is not None:
            mart, _, column = spec.dates.partition(".")
            if mart not in marts or column not in marts[mart]:
                raise DashboardError(f"{owner}: dates: unknown mart column {spec.dates!r} (want <mart>.<column>)")
            self.dates = (mart, column)
        elif "date" in filter_ids:
            raise DashboardError(f"{owner}: dates: a dashboard with a date filter names its '<mart>.<column>'")
        seen: set[str] = set()
        for i, visual in enumerate(spec.visuals):
            self._check_visual(f"{owner}: visuals[{i}]", visual, datasets, filter_ids)
            if visual.id in seen:
                raise DashboardError(f"{owner}: visuals[{i}].id: duplicate visual {visual.id!r}")
            seen.add(visual.id)
        self.visuals = {v.id: v for v in spec.visuals}
        used = {m for v in spec.visuals for m in datasets[v.dataset].marts}
        if self.dates:
            used.add(self.dates[0])
        if "category" in filter_ids:
            used.add(CATEGORIES_MART)  # the category filter's choices and slugs
        self.filter_ids = tuple(filter_ids)
        self.marts = tuple(sorted(used))

    @staticmethod
    def _check_visual(where: str, visual: VisualSpec, datasets: dict[str, Dataset],
                      filter_ids: list[str]) -> None:
        if visual.dataset not in datasets:
            raise DashboardError(f"{where}.dataset: unknown dataset {visual.dataset!r}")
        dataset = datasets[visual.dataset]
        columns = dataset.columns
        for j, f in enumerate(visual.filters):
            if f not in filter_ids:
                raise DashboardError(f"{where}.filters[{j}]: the dashboard has no {f} filter")
            if f not in dataset.filters:
                raise DashboardError(f"{where}.filters[{j}]: dataset {dataset.name!r} does not take the {f} filter")
        for field, column in visual.encoding.columns():
            if column not in columns:
                raise DashboardError(f"{where}.encoding.{field}: unknown column {column!r} in dataset "
                                     f"{dataset.name!r}")
        required = {"line": ("x", "y"), "bar": ("x", "y"), "heatmap": ("x", "y", "value")}.get(visual.type, ())
        for field in required:
            if getattr(visual.encoding, field) is None:
                raise DashboardError(f"{where}.encoding.{field}: a {visual.type} visual needs one")
        if visual.type == "heatmap" and not isinstance(visual.encoding.y, str):
            raise DashboardError(f"{where}.encoding.y: a heatmap's y is one column")
        if visual.type == "kpi":
            if not visual.metrics:
                raise DashboardError(f"{where}.metrics: a kpi visual lists its metrics")
            if "period" not in columns:
                raise DashboardError(f"{where}.dataset: a kpi dataset has a 'period' column ('current' and "
                                     f"'previous' rows)")
            for j, metric in enumerate(visual.metrics):
                if metric.column not in columns:
                    raise DashboardError(f"{where}.metrics[{j}].column: unknown column {metric.column!r} in "
                                         f"dataset {dataset.name!r}")
        elif visual.metrics:
            raise DashboardError(f"{where}.metrics: only a kpi visual has metrics")
        shown = KPI_COLUMNS if visual.type == "kpi" else columns
        for column in visual.format:
            if column not in shown:
                raise DashboardError(f"{where}.format.{column}: unknown column {column!r}")
        if visual.drill is not None:
            if visual.drill.filter not in filter_ids:
                raise DashboardError(f"{where}.drill.filter: the dashboard has no {visual.drill.filter} filter")
            if visual.drill.field not in columns:
                raise DashboardError(f"{where}.drill.field: unknown column {visual.drill.field!r} in dataset "
                                     f"{dataset.name!r}")


def check_name(kind: str, name: str) -> None:
    if not re.match(_IDENT, name):
        raise DashboardError(f"{kind} {name!r}: names are lower-case letters, digits and _")
