"""Download a dataset and convert it into ``data/NAME`` all at once, or leave ``data/NAME`` as it was.

Layout written: ``NAME/raw/`` (the VOC files as downloaded), ``NAME/annotations/*.json``,
``NAME/images`` (link to ``raw``), ``report.json``, ``stats.json`` (as voc2coco.py writes them) and
``NAME/source.json`` (where it came from; never a key), written last.

Everything is built in ``.NAME.partial/`` beside ``NAME`` and renamed into place only once
downloaded, verified and converted, so a failure or an interruption leaves no half dataset. The
archive waits in ``.downloads/`` beside ``NAME`` until then (a partial one is continued by the next
run) and is deleted after success.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from custom.datasets.archives import DEFAULT_MAX_BYTES, extract
from custom.datasets.coco_writer import RAW_DIR, write_coco_splits
from custom.datasets.converter import Report
from custom.datasets.fetch import download
from custom.datasets.registry import DatasetEntry, content_sha256

SOURCE_FILE = 'source.json'
CACHE_DIR = '.downloads'


class AcquireError(RuntimeError):
    """A dataset that cannot be put in place; ``data/NAME`` is unchanged. The message says what to do."""


@dataclass
class Acquired:
    """The outcome: the folder, the conversion report (None when already up to date) and the source record."""

    out_dir: Path
    report: Report | None
    source: dict

    @property
    def up_to_date(self) -> bool:
        return self.report is None


def _sibling(out_dir: Path, suffix: str) -> Path:
    return out_dir.parent / f'.{out_dir.name}.{suffix}'


def read_source(out_dir: Path) -> dict | None:
    """The ``source.json`` of a dataset folder written by this module, or None."""
    try:
        return json.loads((out_dir / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_destination(out_dir: Path, source: dict, force: bool) -> bool:
    """True when ``out_dir`` already holds ``source`` complete; :class:`AcquireError` when replacing it needs
    ``force``."""
    old = _sibling(out_dir, 'old')
    if not out_dir.exists() and read_source(old):  # killed between the two renames of _install
        os.rename(old, out_dir)
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise AcquireError(f'{out_dir} is a file; remove it or choose another --out-dir')
    existing = read_source(out_dir)
    if existing and existing.get('id') == source['id'] and not force:
        return True
    if force or not any(out_dir.iterdir()):
        return False
    what = f'{existing["id"]}' if existing else 'files not written by tools/download_dataset.py (no source.json)'
    raise AcquireError(f'{out_dir} already holds {what}; pass --force to replace it with {source["id"]}, '
                       f'or choose another --out-dir')


def _install(staging: Path, out_dir: Path) -> None:
    """Put ``staging`` in the place of ``out_dir``: two renames, the old folder deleted after."""
    old = _sibling(out_dir, 'old')
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.rename(out_dir, old)
    os.rename(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _build(out_dir: Path, source: dict, force: bool, fill_raw: Callable[[Path], None],
           convert: dict) -> Acquired:
    """Common steps: check ``out_dir``, build ``raw/`` with ``fill_raw(staging)``, convert, record, install."""
    out_dir = Path(out_dir)
    if _check_destination(out_dir, source, force):
        return Acquired(out_dir, None, read_source(out_dir) or source)
    staging = _sibling(out_dir, 'partial')
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed run: never reused
    try:
        staging.mkdir(parents=True)
        fill_raw(staging)
        report = write_coco_splits(staging / RAW_DIR, staging, progress=True, **convert)
        (staging / SOURCE_FILE).write_text(json.dumps(source, indent=1))
        _install(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Acquired(out_dir, report, source)


def _archive_path(out_dir: Path, key: str, url: str) -> Path:
    name = os.path.basename(url.split('?')[0]) or 'archive'
    return out_dir.parent / CACHE_DIR / f'{key}-{hashlib.sha1(url.encode()).hexdigest()[:8]}-{name}'


def acquire_registry(entry: DatasetEntry, out_dir: str | os.PathLike, force: bool = False,
                     max_bytes: int = DEFAULT_MAX_BYTES, content_sha: str | None = None,
                     progress: bool = True) -> Acquired:
    """Download registry dataset ``entry`` (archive SHA-256 checked before extraction, content SHA-256 before
    conversion; ``content_sha`` replaces the registry's) and convert it into ``out_dir``."""
    if not entry.downloadable:
        raise AcquireError(f'{entry.name} needs {entry.credentials} credentials and is not downloaded by this tool; '
                           f'run:\n  ' + '\n  '.join(entry.instructions))
    out_dir = Path(out_dir)
    expected = content_sha or entry.content_sha256
    source = {'id': f'registry:{entry.name}', 'url': entry.url, 'content_sha256': expected, 'title': entry.title,
              'licence': entry.licence, 'citation': entry.citation, 'homepage': entry.homepage}
    archive = _archive_path(out_dir, entry.name, entry.url)

    def fill_raw(staging: Path) -> None:
        download(entry.url, archive, expected_sha256=entry.archive_sha256 or None, max_bytes=max_bytes,
                 progress=progress, desc=entry.name)
        extract(archive, staging / 'extracted', max_bytes=max_bytes)
        root = staging / 'extracted' / entry.root
        if not root.is_dir():
            found = sorted(p.name for p in (staging / 'extracted').iterdir())
            raise AcquireError(f'{archive}: no folder {entry.root} in the archive (top level: {found}); the '
                               f'archive changed upstream: fix "root" of {entry.name} in the registry')
        got = content_sha256(root, entry.content)
        if got != expected:
            raise AcquireError(f'{entry.name}: the files in {entry.url} differ from the registry\'s (content SHA-256 '
                               f'{got}, expected {expected}); {archive} is kept. If upstream changed them and you '
                               f'trust the new files, rerun with --content-sha256 {got}')
        os.rename(root, staging / RAW_DIR)
        shutil.rmtree(staging / 'extracted')

    convert = {'split': entry.convert.get('split'), 'seed': entry.convert.get('seed', 0)}
    result = _build(out_dir, source, force, fill_raw, convert)
    if not result.up_to_date:
        archive.unlink(missing_ok=True)
    return result


def acquire_roboflow(version, api_key: str, out_dir: str | os.PathLike, force: bool = False,
                     max_bytes: int = DEFAULT_MAX_BYTES, progress: bool = True) -> Acquired:
    """Download the Pascal-VOC export of Roboflow ``version`` (:class:`custom.datasets.roboflow_source.RoboflowVersion`)
    and convert it into ``out_dir``: its train/ valid/ test/ folders become the splits."""
    from custom.datasets.roboflow_source import RoboflowSourceError, export_link, redact
    out_dir = Path(out_dir)
    source = {'id': f'roboflow:{version}', 'format': 'voc',
              'homepage': f'https://universe.roboflow.com/{version.workspace}/{version.project}/dataset/'
                          f'{version.version}'}
    key = f'roboflow-{version.workspace}-{version.project}-{version.version}'
    archive = _archive_path(out_dir, key, 'roboflow.zip')

    def fill_raw(staging: Path) -> None:
        link = export_link(version, api_key)
        try:
            download(link, archive, max_bytes=max_bytes, progress=progress, desc=str(version), resume_id=key)
        except Exception as err:  # noqa: BLE001  message re-raised without the key or the signed link
            raise RoboflowSourceError(redact(str(err), api_key)) from None
        extract(archive, staging / RAW_DIR, max_bytes=max_bytes)

    result = _build(out_dir, source, force, fill_raw, {})
    if not result.up_to_date:
        archive.unlink(missing_ok=True)
    return result
