"""The README's Python examples run as written."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_python_examples_run(pointmass_root: Path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    seen: dict = {}
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
        seen.update(namespace)
    assert seen["batch"]["observations"].shape == (32, 16, 2)
    assert seen["actions"].shape == (4, 2)
    assert seen["episodes"].returns.shape == (10,)
    assert seen["result"].steps == 20 and (Path("ckpt") / "step-000000020").is_dir()
