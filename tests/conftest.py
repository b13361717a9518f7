"""Shared fixtures: repo paths, the shipped BCCD sample, the real datasets in ../shared, VOC writers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / 'datasets' / 'bccd_sample'
SHARED = Path(os.environ.get('SHARED_DATASETS', REPO.parent / 'shared' / 'datasets'))


def shared_dataset(name: str) -> Path:
    """Path of a real dataset in ../shared/datasets, or skip the test with the reason."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f'{path} not found: real-data tests need ../shared/datasets beside the repo')
    return path


def voc_xml(filename: str = 'a.jpg', width: int = 100, height: int = 80,
            objects: list[tuple] = (), extra: str = '') -> str:
    """A Pascal-VOC annotation; each object is (name, xmin, ymin, xmax, ymax[, difficult])."""
    parts = [f'<annotation><filename>{filename}</filename>',
             f'<size><width>{width}</width><height>{height}</height><depth>3</depth></size>', extra]
    for obj in objects:
        name, x1, y1, x2, y2, *rest = obj
        difficult = rest[0] if rest else 0
        parts.append(f'<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>'
                     f'<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>'
                     f'</bndbox></object>')
    return ''.join(parts) + '</annotation>'


def write_image(path: Path, width: int = 100, height: int = 80, mode: str = 'RGB') -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height), color=0).save(path)


def run_tool(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` from the repo root, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
