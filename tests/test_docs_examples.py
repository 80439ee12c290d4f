"""The manual's Python examples (README and docs/) run as written."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _stored_smoke_run(where: Path) -> None:
    """A small run in the store's layout (what `rsbench run` writes), for the loading example."""
    import pandas as pd

    from rsbench.results import RunStore
    from rsbench.results.provenance import manifest
    from rsbench.suite import load_suite

    suite = load_suite(REPO / "suites" / "smoke.yaml")
    store = RunStore(where)
    store.write_suite(suite)
    store.write_manifest(
        manifest(run_id=where.name, suite_name=suite.name, suite_hash=suite.digest(), command=[])
    )
    for seed in (0, 1):
        trial = f"cql-pointmass-s{seed}"
        store.write_trial({"trial": trial, "method": "cql", "seed": seed, "status": "finished"})
        store.write_episodes(
            trial,
            "neutral",
            pd.DataFrame(
                {
                    "trial": trial,
                    "method": "cql",
                    "algo": "cql",
                    "task": "pointmass",
                    "seed": seed,
                    "sweep": "{}",
                    "risk": "neutral",
                    "episode": range(10),
                    "return": [float(seed + i) for i in range(10)],
                    "length": 10,
                    "violation_steps": 0,
                }
            ),
        )


def test_python_examples_run(pointmass_root: Path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    _stored_smoke_run(Path("results") / "smoke-20261124-000000")
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    blocks = [
        (page.name, block)
        for page in pages
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    ]
    # The session's fixture holds the 200-episode build, whose id carries its size.
    blocks = [
        (n, b.replace("rsbench/pointmass-mixed-v1", "rsbench/pointmass-mixed-200ep-v1")) for n, b in blocks
    ]
    assert len(blocks) >= 3
    seen: dict = {}
    for name, block in blocks:
        namespace: dict = {}
        exec(compile(block, name, "exec"), namespace)
        seen.update(namespace)
    assert seen["batch"]["observations"].shape == (32, 16, 2)
    assert seen["actions"].shape == (4, 2)
    assert seen["episodes"].returns.shape == (10,)
    assert seen["result"].steps == 20 and (Path("ckpt") / "step-000000020").is_dir()
    assert len(seen["table"]) == 2 and seen["means"]["mean_return"].tolist() == [5.0]
