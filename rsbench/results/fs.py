"""Where results live: a local path or any URI pyarrow's filesystems understand (``s3://``, ``gs://``, ...).

Every write is atomic: the bytes go to a hidden temp name in the destination's directory and are then moved
into place, so a reader (or a crashed writer) never sees half a file. On object stores a single PUT is already
atomic and the move is a copy; locally it is a rename.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs


@dataclass(frozen=True)
class Location:
    """A directory on a filesystem: ``fs`` plus the ``path`` pyarrow addresses it by."""

    fs: pafs.FileSystem
    path: str
    uri: str

    def __truediv__(self, name: str) -> Location:
        sep = "" if self.path.endswith("/") else "/"
        return Location(self.fs, f"{self.path}{sep}{name}", f"{self.uri.rstrip('/')}/{name}")

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def local_path(self) -> Path:
        """The ``Path`` of a local location (for tools that need one, e.g. torch checkpoints)."""
        if not self.is_local:
            raise ValueError(f"{self.uri} is not on the local filesystem")
        return Path(self.path)

    def exists(self) -> bool:
        return self.fs.get_file_info(self.path).type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self.fs.get_file_info(self.path).type == pafs.FileType.Directory

    def mkdir(self) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def create_exclusive(self) -> None:
        """Create this directory, or raise ``FileExistsError`` if it exists, even when another process
        creates it at the same instant: locally one ``mkdir`` (atomic; parents made as needed). An object
        store has no directories to create atomically: there it is a check and a marker, which two runs
        started within the same moment can both pass."""
        if self.is_local:
            os.makedirs(os.path.dirname(self.path.rstrip("/")), exist_ok=True)
            os.mkdir(self.path)
            return
        if self.exists():
            raise FileExistsError(self.uri)
        self.mkdir()

    def children(self) -> list[Location]:
        """Entries directly inside this directory (hidden temp files excluded), sorted by name; [] if absent."""
        if not self.is_dir():
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))
        names = sorted(i.base_name for i in infos if not i.base_name.startswith("."))
        return [self / n for n in names]

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as f:
            return f.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        """Write atomically: temp file beside the destination, then move it into place."""
        parent = self.path.rstrip("/").rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.{self.name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            with self.fs.open_output_stream(tmp) as f:
                f.write(data)
            self.fs.move(tmp, self.path)
        except BaseException:
            if self.fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                self.fs.delete_file(tmp)
            raise

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def delete(self) -> None:
        info = self.fs.get_file_info(self.path)
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path)


def locate(where: str | Path) -> Location:
    """A local path (relative or absolute) or a URI such as ``s3://bucket/results`` -> :class:`Location`."""
    text = str(where)
    if "://" not in text:
        path = os.path.abspath(os.path.expanduser(text))
        return Location(pafs.LocalFileSystem(), path, path)
    fs, path = pafs.FileSystem.from_uri(text)
    return Location(fs, path, text.rstrip("/"))
