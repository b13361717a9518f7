"""The registry of public Pascal-VOC datasets (``datasets/registry.json``) and content checksums.

An entry is downloadable (``url``, ``root``, ``content``, ``content_sha256``, optional
``archive_sha256``) or needs credentials elsewhere (``credentials`` and ``instructions``: the
commands to run). Each has ``title``, ``licence``, ``citation`` and ``homepage``; ``convert``
holds voc2coco options (``split``, ``seed``) when the dataset has no split of its own.

``content_sha256`` is the SHA-256 of the lines ``"<sha256 of file>  <path>\\n"`` of every file under
the ``content`` folders of ``root``, sorted by path: what
``find DIRS -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`` prints in ``root``. It does not
change when a host re-compresses the archive (GitHub's branch archives do).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from custom.datasets.fetch import file_sha256

DEFAULT_REGISTRY = Path(__file__).resolve().parents[2] / 'datasets' / 'registry.json'
REQUIRED = ('title', 'licence', 'citation', 'homepage')
DOWNLOADABLE = ('url', 'root', 'content', 'content_sha256')


class RegistryError(ValueError):
    """A registry file or entry that cannot be used; the message names the file and the entry."""


@dataclass
class DatasetEntry:
    """One registry entry (see the module docstring for the fields)."""

    name: str
    title: str
    licence: str
    citation: str
    homepage: str
    url: str = ''
    root: str = ''
    content: list[str] = field(default_factory=list)
    content_sha256: str = ''
    archive_sha256: str = ''
    convert: dict = field(default_factory=dict)
    credentials: str = ''
    instructions: list[str] = field(default_factory=list)

    @property
    def downloadable(self) -> bool:
        return not self.credentials


def load_registry(path: str | os.PathLike = DEFAULT_REGISTRY) -> dict[str, DatasetEntry]:
    """Entries of the registry file ``path`` by name; :class:`RegistryError` naming the file and entry."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as err:
        raise RegistryError(f'{path}: cannot read the dataset registry ({err})') from None
    entries = {}
    known = set(DatasetEntry.__dataclass_fields__) - {'name'}
    for name, fields in (data.get('datasets') or {}).items():
        missing = [k for k in REQUIRED if not fields.get(k)]
        if not fields.get('credentials'):
            missing += [k for k in DOWNLOADABLE if not fields.get(k)]
        unknown = sorted(set(fields) - known)
        if missing or unknown:
            raise RegistryError(f'{path}: entry {name!r} ' + '; '.join(
                ([f'lacks {", ".join(missing)}'] if missing else []) + ([f'has unknown keys {unknown}'] if unknown
                                                                        else [])))
        entries[name] = DatasetEntry(name=name, **fields)
    return entries


def content_files(root: Path, folders: Sequence[str]) -> list[str]:
    """Paths (relative to ``root``, '/'-separated, sorted) of the regular files under ``folders``."""
    found = []
    for folder in folders:
        base = root / folder
        if not base.is_dir():
            raise RegistryError(f'{base}: folder missing from the download (the archive changed upstream?)')
        for dirpath, _, files in os.walk(base):
            for name in files:
                found.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(found)


def content_sha256(root: Path, folders: Sequence[str]) -> str:
    """The ``content_sha256`` of ``folders`` under ``root`` (see the module docstring)."""
    lines = ''.join(f'{file_sha256(root / rel)}  {rel}\n' for rel in content_files(root, folders))
    return hashlib.sha256(lines.encode('utf-8')).hexdigest()
