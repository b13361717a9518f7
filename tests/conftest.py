"""Shared fixtures: repo paths, the shipped BCCD sample (converted, and a checkpoint trained on it once a session),
the real datasets in ../shared, VOC writers."""
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


def initialised_model(config: str):
    """The model of ``config`` (repo-relative) with its initial weights drawn from seed 0, on CPU."""
    import torch
    from mmengine.config import Config

    from custom.benchmark.timing import build_model
    torch.manual_seed(0)
    model = build_model(Config.fromfile(str(REPO / config)))
    model.init_weights()
    return model


def run_tool(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` from the repo root, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


CLI_CONFIG = 'configs/bccd/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd.py'  # the CLI tests' model (fast on CPU)


@pytest.fixture(scope='session')
def sample_data_root(tmp_path_factory) -> str:
    """The shipped sample converted by the real CLI, as a ``BCCD_ROOT`` value (ends in '/')."""
    out = tmp_path_factory.mktemp('data') / 'bccd_sample'
    result = run_tool('tools/dataset_converters/voc2coco.py', str(SAMPLE), '--out-dir', str(out))
    assert result.returncode == 0, result.stderr
    return f'{out}/'


@pytest.fixture(scope='session')
def trained_sample(sample_data_root, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """``CLI_CONFIG`` trained by ``tools/train.py`` for 2 epochs on the sample (checkpoints every epoch):
    the work dir and the finished process."""
    work = tmp_path_factory.mktemp('work')
    result = run_tool('tools/train.py', CLI_CONFIG, '--work-dir', str(work), '--cfg-options',
                      'train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=1',
                      'default_hooks.logger.interval=1', 'randomness.seed=0',
                      env={'BCCD_ROOT': sample_data_root})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, result
