"""Minari plumbing: the datasets root, atomic publication, listing and rsbench's metadata block.

Minari writes a dataset in place; to never leave a half-written dataset behind, rsbench writes into a
staging root inside the datasets root and renames the finished dataset directory into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rsbench.errors import UserError
from rsbench.paths import ensure_datasets_env

METADATA_KEY = "rsbench"


def dataset_dir(root: Path, dataset_id: str) -> Path:
    """Directory of ``dataset_id`` under a Minari root (``namespace/name-vN``)."""
    return root.joinpath(*dataset_id.split("/"))


def exists(dataset_id: str) -> bool:
    root = ensure_datasets_env()
    return (dataset_dir(root, dataset_id) / "data" / "metadata.json").is_file()


@contextlib.contextmanager
def staging(dataset_id: str) -> Iterator[Path]:
    """Point Minari at a fresh staging root; on success move the dataset into the real root.

    On error the staging root is removed and an existing dataset of the same id is left untouched.
    """
    root = ensure_datasets_env()
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        os.environ["MINARI_DATASETS_PATH"] = str(stage)
        yield stage
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        final = dataset_dir(root, dataset_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        namespace_meta = stage / dataset_id.split("/")[0] / "namespace_metadata.json"
        if "/" in dataset_id and namespace_meta.is_file():
            target = root / dataset_id.split("/")[0] / "namespace_metadata.json"
            if not target.exists():
                shutil.copyfile(namespace_meta, target)
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=root))
            final.rename(trash / "old")
            dataset_dir(stage, dataset_id).rename(final)
            shutil.rmtree(trash)
        else:
            dataset_dir(stage, dataset_id).rename(final)
    finally:
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        shutil.rmtree(stage, ignore_errors=True)


def load_minari(dataset_id: str, *, source: str = "dataset") -> Any:
    """``minari.load_dataset`` with a one-line user error for an unknown id."""
    ensure_datasets_env()
    import minari

    if not exists(dataset_id):
        root = os.environ["MINARI_DATASETS_PATH"]
        known = ", ".join(sorted(list_ids())) or "none"
        raise UserError(
            f"no Minari dataset {dataset_id!r} under {root} (local datasets: {known}); "
            f"{_how_to_get(dataset_id, root)}",
            key=source,
        )
    return minari.load_dataset(dataset_id)


def _how_to_get(dataset_id: str, root: str) -> str:
    """The command that makes a missing dataset: rsbench builds its own ids, Minari serves the others."""
    if dataset_id.startswith("rsbench/"):
        return "build one with `rsbench data build`"
    # Without the variable `minari download` writes to ~/.minari/datasets, where rsbench never looks.
    return f"download it with `MINARI_DATASETS_PATH={shlex.quote(root)} minari download {dataset_id}`"


def list_ids() -> list[str]:
    """Ids of every dataset under the datasets root (staging directories excluded)."""
    root = ensure_datasets_env()
    ids = []
    for meta in root.glob("**/data/metadata.json"):
        rel = meta.parent.parent.relative_to(root)
        if not any(part.startswith(".") for part in rel.parts):
            ids.append("/".join(rel.parts))
    return sorted(ids)


def read_metadata(dataset_id: str) -> dict[str, Any]:
    """The raw ``metadata.json`` of a local dataset (cheap: no HDF5 is opened)."""
    root = ensure_datasets_env()
    with open(dataset_dir(root, dataset_id) / "data" / "metadata.json") as f:
        return json.load(f)
