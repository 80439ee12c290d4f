"""A compact live table of a run's trials (status, step, loss, ETA) in place of Tune's own log.

On a terminal the table redraws in place; elsewhere (CI logs, a ``nohup`` log of a chunk that trains for hours)
each trial prints one line at every tenth of its training steps, one when it starts evaluating, one per evaluated
part (a risk setting at a sweep point, of each seed of a pack) and one when it ends, and the final table is
printed once.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from rsbench.suite import Trial
from rsbench.train.trials import tune_units


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return ""
    s = int(s)
    return f"{s // 60}:{s % 60:02d}"


def _eval_eta(row: dict[str, Any], now: float) -> float | None:
    """Seconds left of the evaluation at the rate of the parts evaluated in this run (as :func:`_eta`)."""
    mark, done = row.get("eval_mark"), row.get("evaluated", 0)
    if mark is None or done <= mark[1]:
        return None
    return (now - mark[0]) / (done - mark[1]) * (row["to_evaluate"] - done)


def _eta(row: dict[str, Any], now: float) -> float | None:
    """Seconds left at the rate since the trial's first result in this run: a trial resumed from a checkpoint
    starts its clock at the restored step, so the restored steps do not count as trained in this run."""
    mark = row.get("mark")
    if mark is None or row["step"] <= mark[1]:
        return None
    return (now - mark[0]) / (row["step"] - mark[1]) * (row["total"] - row["step"])


class LiveTable(Callback):
    """Tune callback: one row per Tune trial (a trial, or a pack of seeds), redrawn on every result."""

    def __init__(self, trials: list[Trial], console: Console | None = None):
        self.console = console or Console(stderr=True)
        units, _ = tune_units(trials)
        self.rows: dict[str, dict[str, Any]] = {
            u.id: {
                "status": "pending",
                "step": 0,
                "total": u.steps,
                "loss": None,
                "started": None,
                "ended": None,
            }
            for u in units
        }
        self.live: Live | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment; the console and the live display stay behind.
        return {"rows": self.rows}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.rows, self.console, self.live = state["rows"], Console(stderr=True), None

    def _table(self) -> Table:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for col in ("trial", "status", "step", "loss", "elapsed", "ETA"):
            table.add_column(col, justify="right" if col in ("step", "loss", "elapsed", "ETA") else "left")
        done = sum(r["status"] in ("finished", "failed") for r in self.rows.values())
        table.title = f"{done}/{len(self.rows)} trials done"
        for trial, r in self.rows.items():
            elapsed = (r["ended"] or time.monotonic()) - r["started"] if r["started"] else None
            now = time.monotonic()
            eta = {"training": _eta(r, now), "evaluating": _eval_eta(r, now)}.get(r["status"])
            step = f"{r['step']}/{r['total']}"
            if r["status"] == "evaluating" and r.get("to_evaluate"):
                step = f"eval {r['evaluated']}/{r['to_evaluate']}"
            style = {"finished": "green", "failed": "red", "training": "cyan", "evaluating": "yellow"}.get(
                r["status"], "dim"
            )
            table.add_row(
                trial,
                f"[{style}]{r['status']}[/]",
                step,
                f"{r['loss']:.4g}" if r["loss"] is not None else "",
                _fmt_seconds(elapsed),
                _fmt_seconds(eta),
            )
        return table

    def _update(self) -> None:
        if self.live is None:
            self.live = Live(self._table(), console=self.console, refresh_per_second=2, transient=False)
            self.live.start()
        self.live.update(self._table())

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.rows[trial.config["trial"]["id"]]
        row["status"] = "training"
        row["started"] = row["started"] or time.monotonic()
        self._update()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = self.rows[trial.config["trial"]["id"]]
        if "trial_status" in result:  # the trainable's last report: finished or failed
            row["status"] = result["trial_status"]
        else:
            row["step"] = int(result.get("step", row["step"]))
            row["mark"] = row.get("mark") or (time.monotonic(), row["step"])
            losses = [v for k, v in result.items() if k.endswith("loss") and isinstance(v, int | float)]
            row["loss"] = sum(losses) if losses else row["loss"]
            row["status"] = "evaluating" if row["step"] >= row["total"] else "training"
            if row["status"] == "evaluating":
                row["evaluated"] = int(result.get("evaluated", 0))
                row["to_evaluate"] = int(result.get("to_evaluate", 0))
                row["eval_mark"] = row.get("eval_mark") or (time.monotonic(), row["evaluated"])
            self._log_progress(trial.config["trial"]["id"], row)
        self._update()

    def _log_progress(self, trial_id: str, row: dict[str, Any]) -> None:
        """Off a terminal: a line at each tenth of the steps (with the ETA), when evaluation starts and at each
        evaluated part."""
        if self.console.is_terminal or not row["started"]:
            return
        if row["status"] == "evaluating" and row.get("evaluated"):
            elapsed = time.monotonic() - row["eval_mark"][0]
            self.console.print(
                f"evaluated: {trial_id} {row['evaluated']}/{row['to_evaluate']} parts ({_fmt_seconds(elapsed)}, "
                f"ETA {_fmt_seconds(_eval_eta(row, time.monotonic())) or '?'})"
            )
            return
        tenth = 10 if row["status"] == "evaluating" else row["step"] * 10 // max(row["total"], 1)
        if tenth <= row.get("logged", 0):
            return
        row["logged"] = tenth
        elapsed = time.monotonic() - row["started"]
        if row["status"] == "evaluating":
            self.console.print(f"evaluating: {trial_id} (trained in {_fmt_seconds(elapsed)})")
        else:
            eta = _eta(row, time.monotonic())
            self.console.print(
                f"training: {trial_id} {row['step']}/{row['total']} ({_fmt_seconds(elapsed)}, "
                f"ETA {_fmt_seconds(eta) or '?'})"
            )

    def _ended(self, trial: Any, status: str | None = None) -> None:
        trial_id = trial.config["trial"]["id"]
        row = self.rows[trial_id]
        if status is not None or row["status"] not in ("finished", "failed"):
            row["status"] = status or "finished"
        row["ended"] = time.monotonic()
        if not self.console.is_terminal:
            elapsed = _fmt_seconds(row["ended"] - row["started"]) if row["started"] else ""
            self.console.print(f"{row['status']}: {trial_id} ({elapsed})")
        self._update()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, "failed")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self.rows[trial.config["trial"]["id"]]
        # The retry restores a checkpoint: its training and evaluation rates start anew.
        row["status"], row["mark"], row["eval_mark"] = "retrying", None, None
        self._update()

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
            self.live = None
            self.console.print()
