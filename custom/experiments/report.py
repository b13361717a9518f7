"""The experiment report's reading half: work dirs of training, K-fold and tuning runs as :class:`Experiment` s.

Everything comes from what the runs saved, never from prose: each training run's dumped config
(``<timestamp>/vis_data/config.py``) and scalars (``vis_data/scalars.json``), its test evaluation
(``metrics_test.json``), ``kfold.json``, ``tune.json`` and, for speed, a benchmark's ``report.json``.
:mod:`.report_render` turns the experiments into the answers, tables and plots. Importing this module
is light; counting parameters imports torch and mmdet inside :func:`count_params`.
"""
from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from custom.experiments import ExperimentError
from custom.experiments.report_config import Recipe, recipe

REPO = Path(__file__).resolve().parents[2]
MAP50, MAP = 'coco/bbox_mAP_50', 'coco/bbox_mAP'
KINDS = {'training': 'training', 'kfold': 'K-fold', 'tuning': 'tuning'}
_STAMP = re.compile(r'\d{8}_\d{6}')
Points = tuple[tuple[int, float], ...]


class ReportError(ExperimentError):
    """A work dir the report cannot read; the message names it and says what it lacks."""


@dataclass(frozen=True)
class Curves:
    """Per epoch: mean logged training loss, validation mAP50 and mAP50:95; ``epochs``: the last epoch logged."""
    train_loss: Points
    val_map50: Points
    val_map: Points
    epochs: int

    def best(self) -> tuple[int, float] | None:
        """``(epoch, mAP50)`` of the best validation (the first of equal ones), ``None`` before any."""
        return max(self.val_map50, key=lambda p: (p[1], -p[0])) if self.val_map50 else None


@dataclass(frozen=True)
class TestScore:
    """mAP50 and mAP50:95 of a test-split evaluation, and the ``metrics_test.json`` they come from."""
    map50: float | None
    map: float | None
    source: str


@dataclass(frozen=True)
class Run:
    """One training work dir: its label in the report, folder, start (earliest run folder), curves, test score."""
    label: str
    path: Path
    started: str | None
    config: Path
    curves: Curves
    test: TestScore | None


@dataclass(frozen=True)
class KFoldSummary:
    """``kfold.json`` in short: K, per fold ``(fold, mAP50, mAP50:95)``, mean and std, out-of-fold scores."""
    k: int
    folds: tuple[tuple[int, float | None, float | None], ...]
    mean50: float | None
    std50: float | None
    mean: float | None
    std: float | None
    oof50: float | None
    oof: float | None
    missing: tuple[int, ...]


@dataclass(frozen=True)
class TuningSummary:
    """``tune.json`` in short: study, objective, trials by state, best trial and its parameters, importances."""
    study: str
    metric: str
    trials: tuple[tuple[str, int], ...]
    best_number: int | None
    best_value: float | None
    best_params: tuple[tuple[str, Any], ...]
    importances: tuple[tuple[str, float], ...]
    space: Mapping[str, Any]


@dataclass(frozen=True)
class Experiment:
    """One WORK_DIR argument: its runs, the recipe of ``shown`` (the run whose config is reported), scores."""
    name: str
    path: Path
    kind: str                       # a key of KINDS
    runs: tuple[Run, ...]
    shown: Run
    recipe: Recipe
    params: int | None
    ms_per_img: str                 # from a benchmark report.json row, '-' without one
    kfold: KFoldSummary | None = None
    tuning: TuningSummary | None = None
    plots: tuple[tuple[str, Path], ...] = ()   # existing plots of the work dir: (caption, file)
    notes: tuple[str, ...] = ()

    @property
    def started(self) -> str | None:
        """The earliest run start of the experiment (``'YYYY-MM-DD HH:MM:SS'``)."""
        return min((r.started for r in self.runs if r.started), default=None)


# --------------------------------------------------------------------------- one training work dir

def run_folders(work_dir: Path) -> list[Path]:
    """``WORK_DIR/<timestamp>/`` folders in chronological (= name) order."""
    if not work_dir.is_dir():
        return []
    return sorted(p for p in work_dir.iterdir() if p.is_dir() and _STAMP.fullmatch(p.name))


def _has_training_records(run: Path) -> bool:
    log, scalars = run / f'{run.name}.log', run / 'vis_data' / 'scalars.json'
    if log.is_file() and 'Epoch(train)' in log.read_text(errors='replace'):
        return True
    return scalars.is_file() and '"loss"' in scalars.read_text(errors='replace')


def trained_config(work_dir: Path) -> Path | None:
    """``vis_data/config.py`` of the newest run folder that trained (log or scalars), ``None`` when none did."""
    for run in reversed(run_folders(work_dir)):
        config = run / 'vis_data' / 'config.py'
        if config.is_file() and _has_training_records(run):
            return config
    return None


def read_curves(work_dir: Path) -> Curves:
    """Per-epoch curves of ``work_dir`` from its scalars (see :func:`custom.engine.training_logs.read_scalars`)."""
    from custom.engine.training_logs import read_scalars
    train, val = read_scalars(work_dir)
    by_epoch: dict[int, list[float]] = {}
    for row in train:
        if 'epoch' in row:
            by_epoch.setdefault(int(row['epoch']), []).append(float(row['loss']))

    def points(key: str) -> Points:
        return tuple((int(r['step']), float(r[key])) for r in val if r.get(key) is not None and r[key] >= 0)

    loss = tuple((e, statistics.fmean(v)) for e, v in sorted(by_epoch.items()))
    map50, map_ = points(MAP50), points(MAP)
    return Curves(loss, map50, map_, max([e for e, _ in loss] + [e for e, _ in map50 + map_], default=0))


def _variants(path: str) -> set[Path]:
    p = Path(path)
    return {p.resolve()} if p.is_absolute() else {p.resolve(), (REPO / p).resolve()}


def find_test_score(work_dir: Path, cfg: Any) -> TestScore | None:
    """The test evaluation of ``work_dir``'s final model: ``WORK_DIR/test/`` (the benchmark's, K-fold's),
    ``WORK_DIR/``, else a sibling folder whose ``metrics_test.json`` names a checkpoint of ``work_dir``;
    an evaluation with TTA or on another annotation file than the config's test split does not count."""
    from custom.benchmark.results import read_test_metrics
    from custom.engine.config import dataset_info
    try:
        test_ann = dataset_info(cfg, 'test')['ann_file']
    except KeyError:
        test_ann = None
    own = [work_dir / 'test' / 'metrics_test.json', work_dir / 'metrics_test.json']
    siblings = sorted(set(work_dir.parent.glob('*/metrics_test.json')) - set(own))
    here = work_dir.resolve()
    for path in [p for p in own if p.is_file()] + siblings:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        checkpoint = data.get('checkpoint')
        if path in siblings and not (checkpoint and any(p.parent == here for p in _variants(checkpoint))):
            continue
        if data.get('tta') or (test_ann and data.get('ann_file')
                               and not _variants(data['ann_file']) & _variants(test_ann)):
            continue
        metrics = read_test_metrics(path.parent)
        return TestScore(metrics.get('mAP50'), metrics.get('mAP50:95'), str(path))
    return None


def read_run(work_dir: Path, label: str) -> Run:
    """The :class:`Run` of a training work dir (one that :func:`trained_config` finds a config in)."""
    from custom.engine.config import read_config
    config = trained_config(work_dir)
    if config is None:
        raise ReportError(f'{work_dir}: no training run in it (a <timestamp>/ folder whose log or '
                          f'vis_data/scalars.json records training, beside vis_data/config.py)')
    folders = run_folders(work_dir)
    stamp = folders[0].name if folders else None
    started = (f'{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:]}'
               if stamp else None)
    try:
        cfg = read_config(str(config), import_custom_modules=False)
    except Exception as err:  # noqa: BLE001  mmengine raises many kinds for a broken file
        raise ReportError(f'{config}: not a readable config ({type(err).__name__}: {err}); it is the config '
                          f'mmengine dumped when the run started: rerun the training, or remove that run '
                          f'folder') from None
    return Run(label, work_dir, started, config, read_curves(work_dir), find_test_score(work_dir, cfg))


def count_params(config: Path) -> int:
    """Parameters of the model of ``config`` built on the meta device (imports torch, mmdet and the config's
    ``custom_imports``)."""
    from mmdet.utils import register_all_modules
    from mmengine.utils import import_modules_from_strings

    from custom.engine.config import read_config
    from custom.engine.preflight import count_parameters
    cfg = read_config(str(config), import_custom_modules=False)
    register_all_modules(init_default_scope=True)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    return count_parameters(cfg.model)


# --------------------------------------------------------------------------- K-fold and tuning work dirs

def _read_report(path: Path, keys: Sequence[str], fix: str) -> dict:
    """A work dir's JSON report holding ``keys``; :class:`ReportError` naming it and ``fix`` (how to rewrite it)."""
    try:
        data = json.loads(path.read_text())
        missing = [k for k in keys if k not in data]
    except (OSError, ValueError, TypeError) as err:
        raise ReportError(f'{path}: unreadable ({err}); {fix}') from None
    if missing:
        raise ReportError(f'{path}: lacks {", ".join(missing)}; {fix}')
    return data


def _kfold_summary(data: Mapping[str, Any]) -> KFoldSummary:
    mean, std, oof = data.get('mean') or {}, data.get('std') or {}, data.get('oof') or {}
    return KFoldSummary(int(data['k']), tuple((int(f['fold']), f.get('mAP50'), f.get('mAP50:95'))
                                              for f in data.get('folds') or []),
                        mean.get('mAP50'), std.get('mAP50'), mean.get('mAP50:95'), std.get('mAP50:95'),
                        oof.get('mAP50'), oof.get('mAP50:95'), tuple(data.get('missing_folds') or ()))


def _tuning_summary(data: Mapping[str, Any]) -> TuningSummary:
    best = data.get('best') or {}
    params = tuple((k[len('param_'):], v) for k, v in best.items() if k.startswith('param_'))
    importances = tuple(sorted((data.get('importances') or {}).items(), key=lambda kv: -kv[1]))
    return TuningSummary(str(data.get('study')), str(data.get('metric')), tuple((data.get('trials') or {}).items()),
                         best.get('number'), best.get('value'), params, importances, dict(data.get('space') or {}))


def _subruns(work_dir: Path, name: str, pattern: str) -> list[Run]:
    """Runs of the sub-folders ``pattern`` (``fold<i>``, ``trial_<n>``) that trained, by their number."""
    folders = [p for p in work_dir.glob(pattern) if p.is_dir() and re.search(r'\d+$', p.name)]
    folders.sort(key=lambda p: int(re.search(r'\d+$', p.name).group()))
    return [read_run(p, f'{name}/{p.name}') for p in folders if trained_config(p) is not None]


def _existing_plots(work_dir: Path, files: Iterable[tuple[str, str]]) -> tuple[tuple[str, Path], ...]:
    """``(caption, path)`` of the plots that exist (a moved work dir: looked up in its own ``plots/``)."""
    out = []
    for caption, file in files:
        for path in (Path(file), work_dir / 'plots' / Path(file).name):
            if path.is_file():
                out.append((caption, path))
                break
    return tuple(out)


def kind_of(work_dir: Path) -> str:
    """``'kfold'``, ``'tuning'`` or ``'training'``; :class:`ReportError` naming what a work dir lacks."""
    if not work_dir.is_dir():
        raise ReportError(f'{work_dir}: no such directory (give a work dir of tools/train.py, tools/kfold.py '
                          f'or tools/tune.py)')
    if (work_dir / 'kfold.json').is_file():
        return 'kfold'
    if (work_dir / 'tune.json').is_file():
        return 'tuning'
    if trained_config(work_dir) is not None:
        return 'training'
    if (work_dir / 'kfold_settings.json').is_file():
        raise ReportError(f'{work_dir}: a K-fold run without kfold.json: write it with tools/kfold.py CONFIG '
                          f'--k K --work-dir {work_dir} --gather')
    if (work_dir / 'tune.db').is_file() or list(work_dir.glob('trial_*')):
        raise ReportError(f'{work_dir}: a tuning run without tune.json: tools/tune.py writes it when the study '
                          f'stops (run it again with the same --work-dir)')
    raise ReportError(f'{work_dir}: not a training, K-fold or tuning work dir: it has no <timestamp>/vis_data/'
                      f'config.py of a run that trained (tools/train.py), no kfold.json (tools/kfold.py) and no '
                      f'tune.json (tools/tune.py)')


def read_experiment(work_dir: str | Path, name: str, benchmark_rows: Sequence[Mapping] = (),
                    with_params: bool = True) -> Experiment:
    """The :class:`Experiment` of one work dir; ``benchmark_rows`` (``report.json`` models) give speed and
    params where a row's ``work_dir`` is one of its runs; otherwise params are counted when ``with_params``."""
    work_dir = Path(work_dir)
    kind = kind_of(work_dir)
    kfold = tuning = None
    plots: tuple[tuple[str, Path], ...] = ()
    if kind == 'training':
        runs = [read_run(work_dir, name)]
        shown = runs[0]
    elif kind == 'kfold':
        data = _read_report(work_dir / 'kfold.json', ('k', 'folds', 'mean', 'std'),
                            'write it again with tools/kfold.py CONFIG --k K --work-dir DIR --gather')
        kfold = _kfold_summary(data)
        runs = _subruns(work_dir, name, 'fold*')
        shown = runs[0] if runs else None
        plots = _existing_plots(work_dir, [('per-fold held-out mAP', str(work_dir / 'plots' / 'kfold_folds.png'))])
    else:
        data = _read_report(work_dir / 'tune.json', ('study', 'metric', 'best'),
                            'run tools/tune.py again with the same --work-dir and storage to rewrite it')
        tuning = _tuning_summary(data)
        runs = _subruns(work_dir, name, 'trial_*')
        by_name = {r.path.name: r for r in runs}
        shown = by_name.get(f'trial_{tuning.best_number}') or max(
            runs, key=lambda r: (r.curves.best() or (0, -1.0))[1], default=None)
        captions = {'history': 'optimisation history', 'importances': 'parameter importances'}
        plots = _existing_plots(work_dir, [(captions.get(k, k), v) for k, v in (data.get('plots') or {}).items()])
    if shown is None:
        raise ReportError(f'{work_dir}: its {KINDS[kind]} report names runs, but no '
                          f'{"fold<i>" if kind == "kfold" else "trial_<n>"}/ folder in it holds a trained run')
    from custom.engine.config import read_config
    facts = recipe(read_config(str(shown.config), import_custom_modules=False))
    row = benchmark_row(runs, benchmark_rows)
    notes = []
    params = row.get('params')
    if params is None and with_params:
        try:
            params = count_params(shown.config)
        except Exception as err:  # noqa: BLE001  a model that cannot be built still has its other answers
            notes.append(f'{name}: parameters not counted ({type(err).__name__}: {err})')
    ms = f"{row['ms_per_img']:.1f}" if row.get('ms_per_img') is not None else '-'
    return Experiment(name, work_dir, kind, tuple(runs), shown, facts, params, ms, kfold, tuning, plots,
                      tuple(notes))


# --------------------------------------------------------------------------- benchmark rows and many work dirs

def read_benchmark_rows(paths: Sequence[str | Path]) -> list[dict]:
    """The model rows of benchmark ``report.json`` files (:class:`ReportError` for a missing or bad file)."""
    rows = []
    for path in paths:
        try:
            rows += list(json.loads(Path(path).read_text())['models'])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ReportError(f'{path}: not a benchmark report.json with a "models" list ({err}); give the '
                              f'report.json that tools/analysis_tools/benchmark.py wrote') from None
    return rows


def benchmark_row(runs: Sequence[Run], rows: Sequence[Mapping]) -> Mapping:
    """The benchmark row whose ``work_dir`` is one of ``runs`` (``{}`` when none is)."""
    folders = {r.path.resolve() for r in runs}
    return next((row for row in rows if row.get('work_dir') and _variants(str(row['work_dir'])) & folders), {})


def unique_names(paths: Sequence[Path]) -> list[str]:
    """Each work dir's name in the report: its folder name, with its parent's where two are alike."""
    names = [p.resolve().name for p in paths]
    return [n if names.count(n) == 1 else f'{p.resolve().parent.name}/{n}' for p, n in zip(paths, names)]


def read_experiments(work_dirs: Sequence[str | Path], benchmark_rows: Sequence[Mapping] = (),
                     with_params: bool = True) -> list[Experiment]:
    """Every work dir read (each checked before any is read at length), ordered by training start time."""
    paths = list(dict.fromkeys(Path(p) for p in work_dirs))
    for path in paths:
        kind_of(path)
    experiments = [read_experiment(p, n, benchmark_rows, with_params) for p, n in zip(paths, unique_names(paths))]
    return sorted(experiments, key=lambda e: (e.started is None, e.started or ''))
