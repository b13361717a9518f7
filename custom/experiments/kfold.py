"""K-fold cross-validation of a config: one training per fold, each scored on its held-out fold.

Work dir layout (``tools/kfold.py``)::

    kfold_settings.json            config, K, seed, options: a rerun with others is refused
    folds/pool.json, fold<i>_{train,val}.json
    fold<i>/                       training (checkpoints, logs) of fold i; fold<i>/test/ its evaluation
    oof/                           the out-of-fold detections of every fold merged, scored once
    kfold.json, kfold_report.md, plots/kfold_folds.png

Trainings and evaluations run the project's entry points in subprocesses
(:func:`custom.benchmark.runner.ensure_trained` / ``ensure_evaluated``): a finished fold is reused, an
interrupted one continues from its newest checkpoint, a fold another live process trains is refused,
so folds can run in separate processes or jobs (``--fold I``) and be gathered after. A held-out fold
is scored with the final checkpoint, never one picked on that same fold.
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any, Sequence

from custom.engine.run_settings import changed_settings, record_settings
from custom.experiments import ExperimentError
from custom.experiments.folds import POOL_FILE, merge_pool, pool_files, write_folds

SETTINGS_FILE = 'kfold_settings.json'
REPORT_JSON = 'kfold.json'
REPORT_MD = 'kfold_report.md'
METRICS = ('mAP50', 'mAP50:95')


def split_options(cfg: Any, split: str, ann_file: str) -> list[str]:
    """``--cfg-options`` pointing ``split``'s dataset (through wrappers) and evaluator at ``ann_file``."""
    from custom.engine.config import coco_metrics, dataset_levels
    key = list(dataset_levels(cfg[f'{split}_dataloader'].dataset, f'{split}_dataloader.dataset'))[-1][0]
    options = [f'{key}.ann_file={ann_file}']
    evaluator = cfg.get(f'{split}_evaluator') if split != 'train' else None
    if isinstance(evaluator, dict) and coco_metrics(evaluator):
        options.append(f'{split}_evaluator.ann_file={ann_file}')
    return options


def _check_settings(work_dir: Path, settings: dict) -> None:
    changed = changed_settings(work_dir / SETTINGS_FILE, settings)
    if changed:
        raise ExperimentError(f'{work_dir} holds a K-fold run with other settings ({", ".join(changed)}: '
                              f'{changed}); use another --work-dir or remove it')
    record_settings(work_dir / SETTINGS_FILE, settings)


class KFoldRun:
    """The folds of ``config`` in ``work_dir``: made (or re-read) on construction, trained by :meth:`run_fold`."""

    def __init__(self, config: str, k: int, seed: int, work_dir: str | os.PathLike,
                 cfg_options: Sequence[str] = (), epochs: int | None = None) -> None:
        from custom.benchmark.runner import train_options
        from custom.engine.config import dataset_info, parse_cfg_options, read_config
        self.config, self.k, self.seed = os.path.abspath(config), k, seed
        self.work_dir = Path(work_dir).absolute()
        _check_settings(self.work_dir, {'config': self.config, 'k': k, 'seed': seed,
                                        'cfg_options': list(cfg_options), 'epochs': epochs})
        base = read_config(self.config, parse_cfg_options(list(cfg_options)))
        self.options = train_options(base, epochs, None, cfg_options)
        self.cfg = read_config(self.config, parse_cfg_options(self.options))
        train, val = dataset_info(self.cfg, 'train'), dataset_info(self.cfg, 'val')
        self.classes, self.max_dets = val['classes'], val['max_dets']
        first, second = pool_files(train['ann_file'], val['ann_file'])
        self.pool_source = [f for f in (first, second) if f]
        self.folds = write_folds(merge_pool(first, second), k, seed, self.work_dir / 'folds')
        self.pool = self.work_dir / 'folds' / POOL_FILE

    def fold_dir(self, i: int) -> Path:
        return self.work_dir / f'fold{i}'

    def fold_images(self, i: int) -> int:
        """Images in the held-out part of fold ``i``."""
        return _count(self.folds[i][1])

    def fold_options(self, i: int) -> list[str]:
        train_file, val_file = (str(p) for p in self.folds[i])
        return (list(self.options) + split_options(self.cfg, 'train', train_file)
                + split_options(self.cfg, 'val', val_file) + split_options(self.cfg, 'test', val_file))

    def run_fold(self, i: int) -> str:
        """Train (or resume, or reuse) fold ``i`` and evaluate it on its held-out fold; 'trained'/'resumed'/'reused'."""
        from custom.benchmark import BenchmarkError
        from custom.benchmark.runner import ensure_evaluated, ensure_trained
        if not 0 <= i < self.k:
            raise ExperimentError(f'--fold {i}: folds are 0..{self.k - 1}')
        options = self.fold_options(i)
        try:
            status, checkpoint = ensure_trained(self.config, self.fold_dir(i), options,
                                                int(self.cfg.train_cfg.max_epochs), self.seed)
            ensure_evaluated(self.config, checkpoint, self.fold_dir(i), options)
        except BenchmarkError as err:
            raise ExperimentError(f'fold {i}: {err}') from None
        return status

    def fold_metrics(self, i: int) -> dict | None:
        """The held-out metrics of fold ``i`` (see :func:`custom.benchmark.results.read_test_metrics`), None if not
        evaluated yet."""
        from custom.benchmark.results import read_test_metrics
        test_dir = self.fold_dir(i) / 'test'
        return read_test_metrics(test_dir) if (test_dir / 'metrics_test.json').is_file() else None

    def gather(self) -> dict:
        """Write ``kfold.json``, ``kfold_report.md`` and the per-fold plot from the folds done so far; return the
        report. The out-of-fold score needs every fold."""
        rows = [{'fold': i, 'images_val': self.fold_images(i), **(self.fold_metrics(i) or {})}
                for i in range(self.k)]
        done = [r for r in rows if r.get('mAP50') is not None]
        shown = os.path.relpath(self.config) if self.config.startswith(os.getcwd() + os.sep) else self.config
        report = {'config': shown, 'k': self.k, 'seed': self.seed, 'options': self.options,
                  'pool': self.pool_source, 'images': _count(self.pool), 'folds': rows,
                  'missing_folds': [r['fold'] for r in rows if r.get('mAP50') is None],
                  'mean': {}, 'std': {}, 'per_class_AP50': {}, 'oof': None}
        for metric in METRICS:
            values = [r[metric] for r in done]
            report['mean'][metric], report['std'][metric] = _mean_std(values)
        for name in self.classes or ():
            values = [r['per_class_AP50'].get(name) for r in done if r.get('per_class_AP50')]
            mean, std = _mean_std([v for v in values if v is not None])
            report['per_class_AP50'][name] = {'mean': mean, 'std': std}
        if done and not report['missing_folds']:
            report['oof'] = self._score_out_of_fold()
        self.work_dir.joinpath(REPORT_JSON).write_text(json.dumps(report, indent=1))
        from custom.experiments.kfold_report import plot_folds, write_markdown
        plot = plot_folds(report, self.work_dir / 'plots' / 'kfold_folds.png') if done else None
        write_markdown(report, self.work_dir / REPORT_MD, plot)
        return report

    def _score_out_of_fold(self) -> dict:
        """Merge every fold's held-out detections and score them once against the pool."""
        from custom.evaluation.analysis import run_analysis
        merged = []
        for i in range(self.k):
            merged += json.loads((self.fold_dir(i) / 'test' / 'detections.bbox.json').read_text())
        oof_dir = self.work_dir / 'oof'
        oof_dir.mkdir(exist_ok=True)
        results = oof_dir / 'detections.bbox.json'
        results.write_text(json.dumps(merged))
        summary = run_analysis(str(self.pool), results, oof_dir, classes=self.classes, metrics_name='metrics_oof',
                               max_dets=self.max_dets, verbose=False, progress=False)
        return {'mAP50': summary['overall'].get('mAP50'), 'mAP50:95': summary['overall'].get('mAP50:95'),
                'per_class_AP50': summary.get('per_class_AP50') or {}, 'metrics': str(oof_dir / 'metrics_oof.json')}


def _count(path: Path) -> int:
    return len(json.loads(Path(path).read_text())['images'])


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0 for one value; None for none)."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
