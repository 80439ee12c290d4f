"""Per-seed metrics from a run's episodes: the table the statistics, leaderboards and regressions start from."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rsbench.eval import metrics
from rsbench.risk import DISTORTIONS, RiskSetting

GROUP = ["method", "algo", "task", "sweep", "risk"]
NORMALISED = "normalised_score"
# The inference risk of a group whose episodes were identical under every risk it was evaluated at.
ANY_RISK = "any"


def cvar_column(alpha: float) -> str:
    return f"cvar_{alpha:g}"


def sweep_suffix(sweep: str | dict | None) -> str:
    """`` [dim=16, n_quantiles=8]`` for a sweep point (JSON text or dict), ``""`` without one."""
    point = json.loads(sweep) if isinstance(sweep, str) else sweep
    if not isinstance(point, dict):  # None, or NaN where a merged frame had no sweep column
        return ""
    text = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(point.items()))
    return f" [{text}]" if text else ""


def group_label(method: str, risk: str, sweep: str | dict | None = None) -> str:
    """``METHOD RISK`` plus the sweep point: the one name of a group (a method label at one risk setting and
    sweep point) in the leaderboard rows, the findings and every figure's series and palette."""
    return f"{method} {risk}{sweep_suffix(sweep)}"


def group_labels(frame: pd.DataFrame) -> pd.Series:
    """:func:`group_label` of every row of ``frame`` (``method``, ``risk`` and, when present, ``sweep``)."""
    sweeps = frame["sweep"] if "sweep" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    labels = [
        group_label(str(m), str(r), s) for m, r, s in zip(frame["method"], frame["risk"], sweeps, strict=True)
    ]
    return pd.Series(labels, index=frame.index, dtype=object)


def with_groups(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``group`` column (:func:`group_labels`)."""
    out = table.copy()
    out["group"] = group_labels(out) if len(out) else []
    return out


def collapse_identical_risks(episodes: pd.DataFrame) -> pd.DataFrame:
    """``episodes`` with each group that met identical episodes under every inference risk it was evaluated
    at listed once, under the risk :data:`ANY_RISK`.

    RS-Diffuser's unguided sampler (guidance scale 0) ignores the risk but is evaluated at each of the suite's
    settings; as separate groups its copies would stand as identical leaderboard rows and enlarge the
    all-pairs Holm family with pairs of zero difference. Identical means the same return, length and
    violation steps, episode by episode, for every trial of the group (method, algo, task, sweep point);
    a group evaluated at one risk, or whose episodes differ anywhere, is left as it is.
    """
    if episodes.empty or "risk" not in episodes:
        return episodes
    keys = [k for k in GROUP if k != "risk" and k in episodes]
    parts = []
    for _, group in episodes.groupby(keys, sort=False, dropna=False):
        risks = list(group["risk"].unique())
        if len(risks) > 1 and _same_under_every_risk(group):
            group = group.loc[group["risk"] == risks[0]].assign(risk=ANY_RISK)
        parts.append(group)
    return pd.concat(parts, ignore_index=True)


def _same_under_every_risk(group: pd.DataFrame) -> bool:
    order = [c for c in ("trial", "seed", "episode") if c in group]
    columns = [*order, *(c for c in ("return", "length", "violation_steps") if c in group)]
    frames = [
        part.sort_values(order)[columns].reset_index(drop=True)
        for _, part in group.groupby("risk", sort=True)
    ]
    return all(f.equals(frames[0]) for f in frames[1:])


def distortion_columns(table: pd.DataFrame) -> list[str]:
    """The distortion-risk columns of a per-seed table (``wang:-0.7``, ...), in the table's order."""
    return [c for c in table.columns if str(c).partition(":")[0] in DISTORTIONS]


def per_seed(
    episodes: pd.DataFrame, alphas: Sequence[float], distortions: Sequence[RiskSetting | str] = ()
) -> pd.DataFrame:
    """One row per (trial, risk setting): ``mean_return``, ``cvar_<alpha>`` for each alpha, the
    distortion risk of the returns for each of ``distortions`` (column ``wang:-0.7``, ...),
    ``violation_rate`` (violating steps / steps), ``episode_violation_rate`` and ``episodes``, next to the
    trial's ``trial, method, algo, task, seed, sweep, risk`` columns. The seed is the statistical unit.
    ``episode_set`` (where episodes record ``episode_seed``) fingerprints the seed's evaluation episodes:
    two rows with the same one met the same episodes (paired comparisons, rsbench.report.compare)."""
    rows = []
    settings = [d if isinstance(d, RiskSetting) else RiskSetting.parse(d) for d in distortions]
    keys = ["trial", *GROUP, "seed"]
    for key, group in episodes.groupby(keys, sort=True, dropna=False):
        returns = group["return"].to_numpy(dtype=float)
        row = dict(zip(keys, key, strict=True))
        row["episodes"] = len(group)
        if "episode_seed" in group:
            ordered = group.sort_values("episode") if "episode" in group else group
            seeds = np.ascontiguousarray(ordered["episode_seed"].to_numpy(dtype=np.int64))
            row["episode_set"] = zlib.crc32(seeds.tobytes())
        row["mean_return"] = float(returns.mean())
        for a in alphas:
            row[cvar_column(a)] = float(metrics.cvar(returns, a))
        for d in settings:
            row[metrics.distortion_column(d)] = float(metrics.distortion_risk(returns, d))
        row["violation_rate"] = float(
            metrics.violation_rate(group["violation_steps"].to_numpy(), group["length"].to_numpy())
        )
        row["episode_violation_rate"] = float(
            metrics.episode_violation_rate(group["violation_steps"].to_numpy())
        )
        rows.append(row)
    return pd.DataFrame(rows)


def seed_means(table: pd.DataFrame, alphas: Sequence[float]) -> pd.DataFrame:
    """Means over seeds of :func:`per_seed` per (method, algo, task, sweep, risk), with the seed count."""
    value_cols = [
        "mean_return",
        *(cvar_column(a) for a in alphas),
        *distortion_columns(table),
        "violation_rate",
        "episode_violation_rate",
    ]
    grouped = table.groupby(GROUP, sort=True, dropna=False)
    out = grouped[value_cols].mean()
    out.insert(0, "seeds", grouped["seed"].nunique())
    return out.reset_index()


def add_normalised_score(table: pd.DataFrame, references: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """``table`` with ``normalised_score`` (:func:`rsbench.eval.metrics.normalised_score` of each seed's mean
    return) from the task's dataset reference scores ``task -> (ref_min_score, ref_max_score)``; NaN on tasks
    without them. On rsbench's tasks these are its random and PPO-expert returns on the risky task
    (:data:`rsbench.eval.metrics.NORMALISED_SCORE_REFERENCES`), not D4RL's.
    """
    out = table.copy()
    score = np.full(len(out), np.nan)
    for task, (lo, hi) in references.items():
        mask = (out["task"] == task).to_numpy()
        score[mask] = metrics.normalised_score(out.loc[mask, "mean_return"].to_numpy(dtype=float), lo, hi)
    out[NORMALISED] = score
    return out


# Cost beside quality (docs/design.md §7), per (trial, risk setting) from the trial records.
COSTS = {
    "train_seconds_per_seed": "train s/seed",
    "steps_per_second": "steps/s",
    "act_ms_per_env": "ms/act/env",
}
COST_NOTE = (
    "Cost, means over seeds from the trial records: train s/seed is the training wall time of one seed (a "
    "pack's wall time divided by the seeds it trained), steps/s the gradient steps of one seed per second of "
    "that time, ms/act/env the decision latency (wall time of the policy's act calls, not of the env steps, "
    "per call per environment at the evaluated batch). Measured on the hosts in the provenance, with the "
    "trials that ran beside them: compare costs of runs from one machine."
)


def infer_packed(trials: pd.DataFrame, suite: Mapping) -> pd.DataFrame:
    """``trials`` with ``packed`` (the seeds trained together) filled where the record predates it and the
    suite never packed the method (then 1); left NaN where the method packed, as a pack's size is not known."""
    out = trials.copy()
    if out.empty:
        return out
    default = ((suite.get("resources") or {}).get("pack")) or 1
    packs = {
        label: ((entry.get("resources") or {}).get("pack") or default)
        for label, entry in (suite.get("methods") or {}).items()
    }
    guess = out["method"].map(lambda m: 1.0 if packs.get(m, default) == 1 else np.nan)
    out["packed"] = out["packed"].astype(float).fillna(guess) if "packed" in out else guess
    return out


def add_costs(table: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """The per-seed ``table`` with the :data:`COSTS` columns, joined on ``trial`` and ``method`` (and for the
    latency on ``risk`` and ``sweep``, as the records' ``decision_latency`` lists them); NaN where a record
    lacks them (runs from before they were recorded, failed trials)."""
    out = table.copy()
    for name in COSTS:
        out[name] = np.nan
    if trials.empty or out.empty:
        return out
    rec = trials.drop_duplicates(["trial", "method"]).set_index(["trial", "method"])
    keys = list(zip(out["trial"], out["method"], strict=True))
    found = [k in rec.index for k in keys]

    def column(name: str) -> np.ndarray:
        if name not in rec:
            return np.full(len(out), np.nan)
        values = pd.to_numeric(rec[name], errors="coerce")
        return np.array([float(values.loc[k]) if ok else np.nan for k, ok in zip(keys, found, strict=True)])

    per_seed = column("train_seconds") / column("packed")
    out["train_seconds_per_seed"] = per_seed
    with np.errstate(divide="ignore", invalid="ignore"):
        out["steps_per_second"] = np.where(per_seed > 0, column("steps") / per_seed, np.nan)
    latency = _latency(trials)
    if latency:
        out["act_ms_per_env"] = [
            latency.get((t, m, r, s), np.nan)
            for t, m, r, s in zip(out["trial"], out["method"], out["risk"], out["sweep"], strict=True)
        ]
    return out


def training_risks(table: pd.DataFrame, trials: pd.DataFrame) -> list[str]:
    """Each row's training risk as its trial's record states it (``-``: a risk-aware method trained for no
    risk level); ``?`` where the record lacks it (runs from before it was recorded)."""
    if trials.empty or "train_risk" not in trials:
        return ["?"] * len(table)
    known = trials.dropna(subset=["train_risk"]).drop_duplicates(["trial", "method"])
    risk = dict(zip(zip(known["trial"], known["method"], strict=True), known["train_risk"], strict=True))
    return [str(risk.get(k, "?")) for k in zip(table["trial"], table["method"], strict=True)]


def _latency(trials: pd.DataFrame) -> dict[tuple[str, str, str, str], float]:
    """``(trial, method, risk, sweep) -> ms per act call per environment`` from the records' JSON lists; under
    :data:`ANY_RISK` the mean over the risks a (trial, method, sweep) was timed at."""
    if "decision_latency" not in trials:
        return {}
    out = {}
    pooled: dict[tuple[str, str, str, str], list[float]] = {}
    for trial, method, text in zip(
        trials["trial"], trials["method"], trials["decision_latency"], strict=True
    ):
        if not isinstance(text, str):
            continue
        for entry in json.loads(text):
            out[(trial, method, entry["risk"], entry["sweep"])] = float(entry["ms_per_env"])
            pooled.setdefault((trial, method, ANY_RISK, entry["sweep"]), []).append(
                float(entry["ms_per_env"])
            )
    return out | {key: float(np.mean(values)) for key, values in pooled.items()}
