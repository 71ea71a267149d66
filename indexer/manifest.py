"""The collection manifest: format version, model fingerprint, and checksums of fixed files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lookalike.common.atomic import atomic_write_bytes, sha256_file
from lookalike.common.errors import CollectionError, CollectionMismatch, NotFound

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
DATABASE_FILE = "collection.sqlite"
MODEL_DIR = "model"


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lookalike")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Manifest:
    model_fingerprint: str
    embedding_dim: int
    input_size: int
    format_version: int = FORMAT_VERSION
    software_version: str = field(default_factory=software_version)
    checksums: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        body = asdict(self)
        doc = {**body, "sha256": _digest(body)}
        atomic_write_bytes(folder / MANIFEST_FILE, json.dumps(doc, indent=2).encode())


def _digest(body: dict) -> str:
    """The manifest's own checksum, so a flipped bit in it is caught too."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def checksum_files(folder: Path, names: list[str]) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in names}


def read_manifest(folder: Path) -> Manifest:
    """Reads and checks the manifest and every file it checksums.

    Raises:
        NotFound: folder is not a collection.
        CollectionError: a file is missing, truncated or altered; the message names it.
        CollectionMismatch: another format version or another model.
    """
    path = folder / MANIFEST_FILE
    if not path.exists():
        raise NotFound(f"{folder} is not a lookalike collection (no {MANIFEST_FILE})")
    try:
        doc = json.loads(path.read_text())
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise CollectionMismatch(
                f"{folder} has collection format {version}; this lookalike reads format "
                f"{FORMAT_VERSION}. Rebuild it with `lookalike build`."
            )
        recorded = doc.pop("sha256", None)
        if recorded != _digest(doc):
            raise ValueError("its own checksum does not match its contents")
        manifest = Manifest(**doc)
    except (ValueError, TypeError, AttributeError) as exc:
        raise CollectionError(f"{path} is corrupt: {exc}") from None
    for name, expected in manifest.checksums.items():
        file = folder / name
        if not file.exists():
            raise CollectionError(f"{file} is missing")
        if sha256_file(file) != expected:
            raise CollectionError(f"{file} is corrupt: its checksum does not match {path}")
    _check_model(folder, manifest)
    return manifest


def _check_model(folder: Path, manifest: Manifest) -> None:
    config = folder / MODEL_DIR / "model.json"
    try:
        fingerprint = json.loads(config.read_text()).get("fingerprint")
    except (OSError, ValueError) as exc:
        raise CollectionError(f"{config} is unreadable: {exc}") from None
    if fingerprint != manifest.model_fingerprint:
        raise CollectionMismatch(
            f"{folder} was built with model {manifest.model_fingerprint}, but its model folder "
            f"holds {fingerprint}; the embeddings would not match"
        )
