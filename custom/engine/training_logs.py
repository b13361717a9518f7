"""Training records and training time from an mmengine work dir (no torch/mmdet/matplotlib import).

mmengine writes one folder per run into the work dir, ``WORK_DIR/<timestamp>/``, holding
``<timestamp>.log`` and ``vis_data/scalars.json`` (one JSON object a line: training records
with ``loss*``, ``lr``, ``epoch``, ``iter``, ``step`` = iteration; validation records with
``coco/bbox_mAP*`` and ``step`` = epoch). A resumed run adds a new folder that repeats the
steps after its checkpoint; the newest run's value wins for each step.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

MAP_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')
_LOG_TIME = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) - ')


def _run_dirs(work_dir: Path) -> list[Path]:
    """The run folders ``WORK_DIR/<timestamp>/`` in chronological (= name) order (none if no such folder)."""
    if not work_dir.is_dir():
        return []
    return sorted(p for p in work_dir.iterdir() if p.is_dir() and re.fullmatch(r'\d{8}_\d{6}', p.name))


def read_scalars(work_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """Training and validation records of every run in ``work_dir``, merged and sorted.

    Returns ``(train, val)``: train records (those with a ``loss`` key) sorted by ``iter``,
    validation records (those with a ``coco/`` key) sorted by ``step`` (the epoch). Where a
    resumed run repeats a step, the later run's record is kept.
    """
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise FileNotFoundError(f'{work_dir}: no such work dir')
    train: dict[int, dict] = {}
    val: dict[int, dict] = {}
    for run in _run_dirs(work_dir):
        path = run / 'vis_data' / 'scalars.json'
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a run killed while writing leaves a partial last line
                continue
            if 'loss' in record and 'iter' in record:
                train[int(record['iter'])] = record
            elif any(key.startswith('coco/') for key in record):
                val[int(record.get('step', record.get('epoch', 0)))] = record
    return [train[k] for k in sorted(train)], [val[k] for k in sorted(val)]


def training_wall_time(work_dir: str | Path) -> float | None:
    """Seconds of training kept in ``work_dir``'s checkpoints, summed over its runs, from the text logs.

    Each run counts from its first time-stamped line to its last ``Saving checkpoint`` line:
    validation between checkpoints is included, work a killed run did after its last checkpoint
    (redone by the resumed run) is not, and evaluation-only runs save nothing and count zero.
    ``None`` when no run saved a checkpoint. Log time stamps have one-second resolution.
    """
    total, found = 0.0, False
    for run in _run_dirs(Path(work_dir)):
        log = run / f'{run.name}.log'
        if not log.is_file():
            continue
        first = saved = None
        with open(log, errors='replace') as f:
            for line in f:
                match = _LOG_TIME.match(line)
                if not match:
                    continue
                stamp = datetime.strptime(match.group(1), '%Y/%m/%d %H:%M:%S')
                first = first or stamp
                if 'Saving checkpoint' in line:
                    saved = stamp
        if first is not None and saved is not None:
            total += (saved - first).total_seconds()
            found = True
    return total if found else None


def latest_training_run(work_dir: str | Path) -> Path | None:
    """The newest run folder of ``work_dir`` that trained (its log has ``Epoch(train)`` lines).

    Its ``vis_data/config.py`` is the config that training used, ``--cfg-options`` included;
    ``WORK_DIR/<config>.py`` is not, as every later run (an evaluation too) overwrites it.
    """
    for run in reversed(_run_dirs(Path(work_dir))):
        log = run / f'{run.name}.log'
        if log.is_file() and 'Epoch(train)' in log.read_text(errors='replace'):
            return run
    return None
