"""``OptunaPruningHook``: report validation mAP to an Optuna trial after each validation, stop a pruned trial.

The trial lives in an RDB storage (SQLite file, PostgreSQL, ...) shared with the process that asked
for it (:mod:`custom.experiments.tuning`); the hook re-opens it by study name and trial id. When the
study's pruner says stop, the hook writes ``WORK_DIR/pruned.json`` and ends the training process
with exit status :data:`PRUNED_EXIT`: no further epoch runs.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

PRUNED_EXIT = 75
PRUNED_FILE = 'pruned.json'
CREATE_ATTEMPTS = 5  # tries at opening a storage whose tables another process is creating
STORAGE_ENV = 'DETKIT_OPTUNA_STORAGE'  # the storage URL, given by the environment: no password in a config file


def open_storage(url: str, heartbeat_s: int | None = None, retries: int = 0) -> Any:
    """An Optuna RDB storage for ``url`` (SQLite waits up to 60 s for a lock held by another process).

    With ``heartbeat_s``, a trial silent for two heartbeats is failed and retried up to ``retries``
    times. Processes starting together on a new database race to create its tables: a failed
    creation is retried, then the tables are there.
    """
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import SQLAlchemyError
    kwargs = {'connect_args': {'timeout': 60}} if url.startswith('sqlite') else {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def create() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # heartbeat options are marked experimental in optuna 5.0
            if heartbeat_s:
                callback = RetryHeartbeatStaleTrialCallback(max_retry=retries) if retries else None
                return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_s,
                                  grace_period=2 * heartbeat_s, heartbeat_stale_trial_callback=callback)
            return RDBStorage(url, engine_kwargs=kwargs)

    for _ in range(CREATE_ATTEMPTS - 1):
        try:
            return create()
        except SQLAlchemyError:
            time.sleep(0.5 + random.random())
    return create()


def median_pruner(startup_trials: int, warmup_epochs: int) -> Any:
    """Optuna's MedianPruner: prune when the trial's value at an epoch is below the median of earlier trials'."""
    import optuna
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """Report ``metric`` after every validation to trial ``trial_id`` of ``study_name`` in the storage at
    ``storage`` (default: the URL in the ``DETKIT_OPTUNA_STORAGE`` environment variable)."""

    priority = 'LOW'

    def __init__(self, study_name: str, trial_id: int, metric: str = 'coco/bbox_mAP_50', startup_trials: int = 3,
                 warmup_epochs: int = 1, storage: str | None = None) -> None:
        self.storage = storage or os.environ.get(STORAGE_ENV)
        if not self.storage:
            raise ValueError(f'OptunaPruningHook needs storage= or the {STORAGE_ENV} environment variable '
                             f'(tools/tune.py sets it)')
        self.study_name, self.trial_id, self.metric = study_name, trial_id, metric
        self.startup_trials, self.warmup_epochs = startup_trials, warmup_epochs
        self._trial = None

    def _get_trial(self) -> Any:
        if self._trial is None:
            import optuna
            study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage),
                                      pruner=median_pruner(self.startup_trials, self.warmup_epochs))
            self._trial = optuna.trial.Trial(study, self.trial_id)
        return self._trial

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if not metrics or self.metric not in metrics:
            runner.logger.warning(f'OptunaPruningHook: no {self.metric} in the validation metrics '
                                  f'{sorted(metrics or {})}; nothing reported')
            return
        trial, value = self._get_trial(), float(metrics[self.metric])
        trial.report(value, runner.epoch)
        if trial.should_prune():
            note = {'epoch': runner.epoch, 'metric': self.metric, 'value': value}
            with open(os.path.join(runner.work_dir, PRUNED_FILE), 'w') as f:
                json.dump(note, f)
            runner.logger.info(f'Optuna trial pruned after epoch {runner.epoch}: {self.metric} {value:.4f} is below '
                               f'the median of earlier trials at this epoch; training stops here')
            raise SystemExit(PRUNED_EXIT)
