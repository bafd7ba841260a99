"""The analytics pipeline, in one place: extract the shop into the lake, then process the marts.

The CLI (`lakefront extract|process|pipeline`), `up`'s scheduler (which runs `lakefront pipeline` as a child
process) and the EMR job (deploy/aws/emr_main.py) all come through here. The stages do not know each other
(import-linter keeps extract, process and serving independent): they meet in the lake, and here, where the one
fact that joins them is checked: every raw table a model reads is one the extract provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lakefront.analytics.errors import ModelError
from lakefront.analytics.extract import EXTRACT_TABLES, TableResult, run_extract
from lakefront.analytics.lake import Lake
from lakefront.analytics.models import Model, load_models
from lakefront.analytics.process import ModelResult, run_process
from lakefront.settings import Settings

__all__ = ["PipelineResult", "check_models", "extract", "process", "run_pipeline"]


@dataclass(frozen=True)
class PipelineResult:
    extracted: list[TableResult]
    processed: list[ModelResult]

    def lines(self) -> list[str]:
        return [r.line() for r in self.extracted] + [r.line() for r in self.processed]


def check_models(models: Mapping[str, Model] | None = None) -> None:
    """ModelError naming the first model (default: of every model file) that reads a raw table the extract
    never provides."""
    for name, model in sorted((load_models() if models is None else models).items()):
        unknown = sorted(model.raw_tables - set(EXTRACT_TABLES))
        if unknown:
            raise ModelError(f"model {name}: no extracted table {', '.join(unknown)} in the lake "
                             f"(raw tables: {', '.join(EXTRACT_TABLES)})")


def extract(settings: Settings, *, tables: list[str] | None = None, full: bool = False,
            progress: bool = False) -> list[TableResult]:
    return run_extract(settings, tables=tables, full=full, progress=progress)


def process(settings: Settings, *, engine: str | None = None, models: list[str] | None = None,
            progress: bool = False) -> list[ModelResult]:
    check_models()
    return run_process(settings, engine=engine, models=models, progress=progress)


def run_pipeline(settings: Settings, *, engine: str | None = None, full: bool = False,
                 progress: bool = False) -> PipelineResult:
    """Extract every table, then run every model: one lake (catalog connection) for both stages."""
    check_models()
    with Lake(settings) as lake:
        extracted = run_extract(settings, full=full, progress=progress, lake=lake)
        processed = run_process(settings, engine=engine, progress=progress, lake=lake)
    return PipelineResult(extracted, processed)
