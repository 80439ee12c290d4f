"""Planned comparisons (``rsbench report --compare A,B``): the differences a study set out to test, stated in
the report whether or not they are significant, with Holm's correction over the planned family only.

The leaderboard tests every pair of groups (its Holm family grows with the square of the groups); a study with a
hypothesis names its few comparisons in advance, which keeps their power. A group is named
``METHOD[@RISK][[KEY=VALUE,...]]``, e.g. ``rs_diffuser@cvar:0.1[candidates=1,guidance_scale=1.0]``: the method
label, optionally its risk setting and sweep values (short field names, as in the group labels); the name must
match exactly one group of the report. A group listed under the risk ``any`` (identical episodes under every
risk it was evaluated at, e.g. an unguided sampler) answers to each of those risks.

Pairing: where the two groups share every seed's evaluation episodes (protocol 2: the same training seed of
two methods, or two risk settings of one model; the per-seed table's ``episode_set``), the test is a paired
t-test on the per-seed differences, which removes the episode noise the two share; otherwise Welch's test.
Both hold their level at 5 seeds x 100 episodes and the paired one has more power (docs/statistics.md,
``benchmarks/coverage.py``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rsbench.errors import UserError
from rsbench.eval import stats
from rsbench.eval.metrics import metric_label
from rsbench.results.tables import ANY_RISK, cvar_column

_NAME = re.compile(r"^(?P<method>[^@\[\]]+?)(?:@(?P<risk>[^\[\]]+))?(?:\[(?P<sweep>[^\]]*)\])?$")


@dataclass(frozen=True)
class Planned:
    """One planned comparison ``a`` vs ``b`` on one metric and task (``a`` as named, not reoriented)."""

    task: str
    metric: str
    a: str
    b: str
    n_a: int
    n_b: int
    difference: float
    low: float
    high: float
    p: float
    p_holm: float
    family: int
    test: str = "welch-t"  # "paired-t" where the groups share every seed's episodes

    def sentence(self) -> str:
        """E.g. ``rs cvar:0.1 vs rs neutral on pm: CVaR_0.1 +3.1 [1.2, 5.0] (5 vs 5 seeds), Welch p = 0.004,
        Holm over 2 planned: 0.008 (significant at 0.05)``."""
        head = f"{self.a} vs {self.b} on {self.task}: {metric_label(self.metric)}"
        if math.isnan(self.p):
            return f"{head} {self.difference:+.3g} ({self.n_a} vs {self.n_b} seeds): untestable (needs 2 seeds with spread)"
        verdict = "significant" if self.p_holm < 0.05 else "not significant"
        test = "paired t (shared episodes)" if self.test == "paired-t" else "Welch"
        return (
            f"{head} {self.difference:+.3g} [{self.low:+.3g}, {self.high:+.3g}] ({self.n_a} vs {self.n_b} seeds), "
            f"{test} p = {self.p:.2g}, Holm over {self.family} planned: {self.p_holm:.2g} ({verdict} at 0.05)"
        )


def split_pair(text: str) -> tuple[str, str]:
    """``"A,B"`` -> ``(A, B)``, splitting at the one comma outside ``[...]``."""
    depth, cuts = 0, []
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            cuts.append(i)
    if len(cuts) != 1:
        raise UserError(
            f"expected A,B (two group names, e.g. rs_diffuser@cvar:0.1,rs_diffuser@neutral), got {text!r}",
            key="--compare",
        )
    return text[: cuts[0]].strip(), text[cuts[0] + 1 :].strip()


def _describe(row: dict) -> tuple[str, str, dict[str, str]]:
    sweep = row.get("sweep")
    point = json.loads(sweep) if isinstance(sweep, str) else (sweep if isinstance(sweep, dict) else {})
    return str(row["method"]), str(row["risk"]), {k.rsplit(".", 1)[-1]: str(v) for k, v in point.items()}


def resolve(name: str, table: pd.DataFrame) -> str:
    """The one group of ``table`` (with ``group``, ``method``, ``risk``, ``sweep``) that ``name`` denotes."""
    m = _NAME.match(name.strip())
    if not m:
        raise UserError(f"expected METHOD[@RISK][[KEY=VALUE,...]], got {name!r}", key="--compare")
    wanted = {}
    for item in filter(None, (s.strip() for s in (m["sweep"] or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"expected KEY=VALUE inside [...], got {item!r} in {name!r}", key="--compare")
        wanted[key.strip()] = value.strip()
    hits = set()
    for row in table[["group", "method", "risk", *(["sweep"] if "sweep" in table else [])]].to_dict(
        "records"
    ):
        method, risk, point = _describe(row)
        same_risk = not m["risk"] or risk in (m["risk"].strip(), ANY_RISK)
        if method == m["method"].strip() and same_risk and all(point.get(k) == v for k, v in wanted.items()):
            hits.add(row["group"])
    if len(hits) != 1:
        have = "; ".join(sorted(set(table["group"])))
        raise UserError(f"{name!r} names {len(hits)} groups of the report (groups: {have})", key="--compare")
    return hits.pop()


def planned_comparisons(table: pd.DataFrame, pairs: list[str], alphas: list[float]) -> list[Planned]:
    """A test of each ``A,B`` of ``pairs`` per task on CVaR at the level nearest 0.1, violation rate and
    mean return (paired where the groups share episodes, else Welch: module docstring); Holm over the planned
    pairs within each (task, metric). ``table`` is the report's per-seed
    table with groups."""
    if not pairs:
        return []
    named = [tuple(resolve(n, table) for n in split_pair(p)) for p in pairs]
    primary = cvar_column(min(alphas, key=lambda a: abs(a - 0.1)))
    out = []
    for task in sorted(table["task"].unique()):
        sub = table[table["task"] == task]
        for metric in (primary, "violation_rate", "mean_return"):
            rows = [_test(sub, metric, a, b) for a, b in named]
            rows = [r for r in rows if r is not None]
            finite = [r["p"] for r in rows if not math.isnan(r["p"])]
            adjusted = iter(stats.holm(finite)) if finite else iter(())
            for r in rows:
                p_holm = math.nan if math.isnan(r["p"]) else float(next(adjusted))
                out.append(Planned(task=task, p_holm=p_holm, family=len(finite), **r))
    return out


def shared_episodes(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> bool:
    """Whether two groups' per-seed rows (finite values) have the same seeds, each on the same episode set."""
    if "episode_set" not in rows_a or "episode_set" not in rows_b or len(rows_a) != len(rows_b):
        return False
    a, b = rows_a.sort_values("seed"), rows_b.sort_values("seed")
    return bool(
        np.array_equal(a["seed"].to_numpy(), b["seed"].to_numpy())
        and np.array_equal(a["episode_set"].to_numpy(), b["episode_set"].to_numpy())
        and a["episode_set"].notna().all()
    )


def _test(sub: pd.DataFrame, metric: str, a: str, b: str) -> dict | None:
    rows_a, rows_b = (sub[(sub["group"] == g) & np.isfinite(sub[metric].astype(float))] for g in (a, b))
    x = rows_a.sort_values("seed")[metric].to_numpy(dtype=float)
    y = rows_b.sort_values("seed")[metric].to_numpy(dtype=float)
    if x.size == 0 or y.size == 0:
        return None  # a group absent from this task
    diff = float(x.mean() - y.mean())
    base = {"metric": metric, "a": a, "b": b, "n_a": int(x.size), "n_b": int(y.size), "difference": diff}
    if shared_episodes(rows_a, rows_b) and x.size >= 2:
        ci = stats.paired_interval(x, y)
        p = stats.paired_t_test(x, y).p_value
        return {**base, "low": ci.low, "high": ci.high, "p": p, "test": "paired-t"}
    if x.size < 2 or y.size < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return {**base, "low": math.nan, "high": math.nan, "p": math.nan}
    ci = stats.welch_interval(x, y)
    return {**base, "low": ci.low, "high": ci.high, "p": stats.welch_t_test(x, y).p_value}
