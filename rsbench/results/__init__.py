"""The results store: run directories of parquet parts with a provenance manifest (docs/design.md §7)."""

from rsbench.results.fs import Location, locate
from rsbench.results.store import Run, RunStore, load_run, risk_slug

__all__ = ["Location", "Run", "RunStore", "load_run", "locate", "risk_slug"]
