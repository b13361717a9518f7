"""Hyper-parameter search on Optuna: TPE sampling, median pruning, trials trained in subprocesses.

The study lives in an RDB storage (default ``sqlite:///WORK_DIR/tune.db``): a killed search
continues where it stopped when run again with the same storage, and several processes or
machines given one storage URL share the study (SQLite on one machine, PostgreSQL across
machines). Each trial writes ``WORK_DIR/trial_<n>/trial_config.py`` (the original config
inherited, the trial's values and an :class:`~custom.experiments.pruning.OptunaPruningHook` set)
and trains it through the training entry point. Optuna's heartbeat marks a trial whose process
died as failed; the retry it enqueues resumes that trial's training from its last checkpoint.
"""
from __future__ import annotations

import os
import pprint
import socket
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from custom.experiments import ExperimentError

TRIAL_CONFIG = 'trial_config.py'
BEST_CONFIG = 'best_config.py'
TRAIN_LOG = 'train.log'


def config_diff(old: Any, new: Any) -> dict:
    """The keys of ``new`` that differ from ``old``: dicts compared key by key, anything else (lists too,
    which mmengine replaces whole when inheriting) taken whole."""
    diff = {}
    for key, value in new.items():
        if key not in old:
            diff[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = config_diff(old[key], value)
            if sub:
                diff[key] = sub
        elif value != old[key]:
            diff[key] = value
    return diff


def write_inheriting_config(original: str, old: Any, new: Any, path: str | os.PathLike, header: str) -> Path:
    """Write a config at ``path`` that inherits ``original`` and sets what ``new`` changes from ``old``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(os.path.abspath(original), path.parent.absolute())
    lines = [f'# {line}' for line in header.splitlines()] + [f'_base_ = {base!r}', '']
    for key, value in config_diff(old.to_dict(), new.to_dict()).items():
        lines.append(f'{key} = {pprint.pformat(value, width=110, sort_dicts=False)}')
    path.write_text('\n'.join(lines) + '\n')
    return path


def best_value(work_dir: Path, metric: str) -> float | None:
    """The best validation ``metric`` logged in ``work_dir`` (None before any validation)."""
    from custom.engine.training_logs import read_scalars
    try:
        _, val = read_scalars(work_dir)
    except FileNotFoundError:
        return None
    values = [row[metric] for row in val if metric in row]
    return max(values) if values else None


class Tuner:
    """The study of ``config`` in ``storage`` and the objective that trains one trial."""

    def __init__(self, config: str, work_dir: str | os.PathLike, storage: str | None, study_name: str | None,
                 space: Mapping[str, Mapping] | None, cfg_options: Sequence[str] = (), metric: str | None = None,
                 seed: int | None = None, startup_trials: int = 3, warmup_epochs: int = 1, heartbeat_s: int = 60,
                 prune: bool = True, progress: bool = True, epochs: int | None = None) -> None:
        from custom.benchmark.runner import train_options
        from custom.engine.config import parse_cfg_options, read_config
        from custom.experiments.search_space import check_spec, default_space
        self.config, self.work_dir = os.path.abspath(config), Path(work_dir).absolute()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.storage_url = storage or f'sqlite:///{self.work_dir / "tune.db"}'
        self.study_name = study_name or Path(config).stem
        self.original = read_config(self.config, import_custom_modules=False)
        user = read_config(self.config, parse_cfg_options(list(cfg_options)), import_custom_modules=False)
        self.cfg_options = train_options(user, epochs, None, cfg_options)  # --epochs: the schedule compressed
        self.base = read_config(self.config, parse_cfg_options(self.cfg_options), import_custom_modules=False)
        self.space = dict(space) if space else default_space(self.base)
        for name, spec in self.space.items():
            check_spec(name, spec, 'search space')
        hook = ((self.base.get('default_hooks') or {}).get('checkpoint') or {})
        self.metric = metric or hook.get('save_best') or 'coco/bbox_mAP'
        if self.metric == 'auto':
            self.metric = 'coco/bbox_mAP'
        self.seed, self.prune, self.progress = seed, prune, progress
        self.startup_trials, self.warmup_epochs, self.heartbeat_s = startup_trials, warmup_epochs, heartbeat_s

    def study(self) -> Any:
        """The study, created in the storage on first use, loaded after."""
        import optuna
        from custom.experiments.pruning import median_pruner, open_storage
        storage = open_storage(self.storage_url, self.heartbeat_s, retries=2)
        pruner = median_pruner(self.startup_trials, self.warmup_epochs) if self.prune else optuna.pruners.NopPruner()
        return optuna.create_study(study_name=self.study_name, storage=storage, direction='maximize',
                                   sampler=optuna.samplers.TPESampler(seed=self.seed), pruner=pruner,
                                   load_if_exists=True)

    def trial_dir(self, trial: Any) -> Path:
        """``trial_<n>``; a retry of a trial whose process died reuses that trial's folder (and checkpoints)."""
        from optuna.storages import RetryHeartbeatStaleTrialCallback
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # marked experimental in optuna 5.0
            original = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
        return self.work_dir / f'trial_{original if original is not None else trial.number}'

    def objective(self, trial: Any) -> float:
        """Train one trial; its best validation metric, or ``optuna.TrialPruned`` when the hook stopped it."""
        import optuna
        from custom.apis import entry_command
        from custom.benchmark import BenchmarkError
        from custom.benchmark.runner import run_logged
        from custom.engine.checkpoint_files import find_resume_checkpoint
        from custom.experiments.pruning import PRUNED_FILE, STORAGE_ENV
        from custom.experiments.search_space import apply_params, suggest
        params = suggest(trial, self.space)
        trial_dir = self.trial_dir(trial)
        trial.set_user_attr('work_dir', str(trial_dir))
        trial.set_user_attr('host', f'{socket.gethostname()}:{os.getpid()}')
        cfg = apply_params(self.base, params, self.space)
        epochs = int(cfg.train_cfg.max_epochs)
        config = self.write_trial_config(cfg, trial._trial_id, trial_dir)
        (trial_dir / PRUNED_FILE).unlink(missing_ok=True)
        args = [str(config), '--work-dir', str(trial_dir), '--seed', str(self.seed or 0)]
        if find_resume_checkpoint(str(trial_dir))[0]:
            args.append('--resume')
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(desc=f'trial {trial.number}', unit='it', leave=False, dynamic_ncols=True)
        try:
            run_logged(entry_command('train', args), trial_dir / TRAIN_LOG, env={STORAGE_ENV: self.storage_url},
                       progress=bar, epochs=epochs)
        except BenchmarkError as err:
            if (trial_dir / PRUNED_FILE).is_file():
                raise optuna.TrialPruned(f'pruned: see {trial_dir / PRUNED_FILE}') from None
            raise ExperimentError(f'trial {trial.number} failed: {err}') from None
        finally:
            if bar is not None:
                bar.close()
        value = best_value(trial_dir, self.metric)
        if value is None:
            raise ExperimentError(f'trial {trial.number}: no {self.metric} in the validation logs of {trial_dir}')
        return value

    def write_trial_config(self, cfg: Any, trial_id: int, trial_dir: Path) -> Path:
        """The trial's config: the original inherited, ``cfg``'s differences, the pruning hook."""
        new = cfg
        imports = list((self.original.get('custom_imports') or {}).get('imports') or [])
        new.custom_imports = dict(imports=imports + ['custom.experiments.pruning'], allow_failed_imports=False)
        if self.prune:
            hook = dict(type='OptunaPruningHook', study_name=self.study_name,
                        trial_id=trial_id, metric=self.metric, startup_trials=self.startup_trials,
                        warmup_epochs=self.warmup_epochs)
            new.custom_hooks = list(new.get('custom_hooks') or []) + [hook]
        return write_inheriting_config(self.config, self.original, new, trial_dir / TRIAL_CONFIG,
                                       f'Optuna trial of {self.study_name} (written by tools/tune.py)')

    def optimize(self, n_trials: int) -> Any:
        """Run trials until the study holds ``n_trials`` finished (complete or pruned) ones; return the study."""
        from optuna.study import MaxTrialsCallback
        from optuna.trial import TrialState
        study = self.study()
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        if len(study.get_trials(deepcopy=False, states=finished)) < n_trials:
            study.optimize(self.objective, n_trials=None, catch=(ExperimentError,),
                           callbacks=[MaxTrialsCallback(n_trials, states=finished)])
        return study

    def write_best_config(self, study: Any) -> Path | None:
        """``WORK_DIR/best_config.py``: the original config with the best trial's values (None before one)."""
        from custom.experiments.search_space import apply_params
        try:
            best = study.best_trial
        except ValueError:
            return None
        header = (f'Best trial of study {self.study_name}: #{best.number}, {self.metric} {best.value:.4f} (val)\n'
                  f'params: {best.params}\nwritten by tools/tune.py; train it on train (+val) and test it once')
        return write_inheriting_config(self.config, self.original, apply_params(self.base, best.params, self.space),
                                       self.work_dir / BEST_CONFIG, header)
