"""tools/tune.py: search spaces applied to configs, a study shared by two processes on one SQLite file,
pruning that really stops training, and a killed trial resumed by its retry."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLI_CONFIG, REPO, run_tool

YOLO = 'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'


def _cfg(path: str):
    from custom.engine.config import read_config
    return read_config(str(REPO / path))


def _step(cfg, split: str, kind: str) -> dict:
    from custom.engine.config import innermost_dataset, step_type
    return next(s for s in innermost_dataset(cfg[f'{split}_dataloader'].dataset).pipeline if step_type(s) == kind)


def test_default_space_is_centred_on_the_recipe():
    from custom.experiments.search_space import default_space
    space = default_space(_cfg(YOLO))  # SGD lr 0.003, wd 5e-4, batch 8, 60 epochs, 320 px
    assert space['lr'] == {'type': 'float', 'low': pytest.approx(0.001), 'high': pytest.approx(0.009), 'log': True}
    assert space['weight_decay']['low'] == pytest.approx(5e-5) and space['weight_decay']['high'] == pytest.approx(5e-3)
    assert space['batch_size']['choices'] == [4, 8]
    assert space['epochs']['choices'] == [30, 45, 60]
    assert space['input_size']['choices'] == [256, 320, 384]
    assert space['aug_strength'] == {'type': 'float', 'low': 0.5, 'high': 1.5}


def test_params_change_sizes_augmentation_schedule_and_keys():
    from custom.experiments.search_space import apply_params
    base = _cfg(YOLO)
    new = apply_params(base, {'input_size': 384, 'epochs': 30, 'lr': 0.002, 'batch_size': 4,
                              'loss_w': 2.0}, {'loss_w': {'type': 'float', 'low': 1, 'high': 3,
                                                          'key': 'model.bbox_head.loss_cls.loss_weight'}})
    assert _step(new, 'train', 'Resize')['scale'] == (384, 384) and _step(new, 'test', 'Resize')['scale'] == (384, 384)
    assert new.param_scheduler[1].milestones == [24, 28]  # 48, 56 of 60 epochs -> of 30
    assert new.train_cfg.max_epochs == 30 and new.optim_wrapper.optimizer.lr == 0.002
    assert new.train_dataloader.batch_size == 4 and new.model.bbox_head.loss_cls.loss_weight == 2.0
    assert _step(base, 'test', 'Resize')['scale'] == (320, 320) and base.train_cfg.max_epochs == 60  # untouched
    ssd = apply_params(_cfg(CLI_CONFIG), {'aug_strength': 0.5}, {})
    assert _step(ssd, 'train', 'Expand')['ratio_range'] == (1.0, 2.5)  # recipe: (1, 4)
    photo = _step(ssd, 'train', 'PhotoMetricDistortion')
    assert (photo['brightness_delta'], photo['hue_delta']) == (16, 9)
    assert photo['contrast_range'] == (0.75, 1.25)


def test_inheriting_config_holds_only_the_differences(tmp_path):
    from custom.engine.config import read_config
    from custom.experiments.search_space import apply_params
    from custom.experiments.tuning import config_diff, write_inheriting_config
    assert config_diff({'a': {'b': 1, 'c': 2}, 'l': [1]}, {'a': {'b': 1, 'c': 3}, 'l': [1, 2], 'n': 0}) == \
        {'a': {'c': 3}, 'l': [1, 2], 'n': 0}
    base = _cfg(YOLO)
    path = write_inheriting_config(str(REPO / YOLO), base, apply_params(base, {'lr': 0.005}, {}),
                                   tmp_path / 'best.py', 'test header')
    text = path.read_text()
    assert text.startswith('# test header\n_base_ = ') and "optim_wrapper = {'optimizer': {'lr': 0.005}}" in text
    assert read_config(str(path)).optim_wrapper.optimizer.lr == 0.005


def test_bad_space_files_are_named_with_the_fix(tmp_path):
    from custom.experiments import ExperimentError
    from custom.experiments.search_space import load_space
    cases = {'lr: {type: float, low: 0.1, high: 0.01}': 'lr: needs low < high',
             'momentum: {type: float, low: 0.8, high: 0.99}': 'momentum: not one of lr, weight_decay',
             'bs: {type: categorical}': 'bs: a categorical parameter needs choices',
             'lr: {type: float, low: 0, high: 1, log: true}': 'log: true needs low > 0'}
    for text, message in cases.items():
        path = tmp_path / 'space.yaml'
        path.write_text(text)
        with pytest.raises(ExperimentError, match=message):
            load_space(path)


def test_storage_passwords_stay_out_of_reports():
    from custom.experiments.tune_report import redact_url
    assert redact_url('postgresql://tuner:s3cret@db.lab:5432/optuna') == 'postgresql://tuner:***@db.lab:5432/optuna'
    assert redact_url('sqlite:////tmp/tune.db') == 'sqlite:////tmp/tune.db'


# --- real studies on the sample (1-3 epoch trials) -----------------------------------------------------------------

def _tune_args(work: Path, space: Path, trials: int, *extra: str) -> list[str]:
    return ['tools/tune.py', CLI_CONFIG, '--trials', str(trials), '--work-dir', str(work), '--space', str(space),
            *extra]


def _study(work: Path, name: str = 'ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd'):
    import optuna
    return optuna.load_study(study_name=name, storage=f'sqlite:///{work / "tune.db"}')


def _lr_space(tmp_path: Path) -> Path:
    space = tmp_path / 'space.yaml'
    space.write_text('lr: {type: categorical, choices: [0.015, 0.005]}\n')
    return space


@pytest.mark.slow
def test_two_processes_share_one_study_and_a_rerun_continues_it(sample_data_root, tmp_path):
    work, space = tmp_path / 'tune', _lr_space(tmp_path)
    env = {**os.environ, 'BCCD_ROOT': sample_data_root, 'OMP_NUM_THREADS': '1'}
    one_epoch = ['--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    procs = [subprocess.Popen([sys.executable, *_tune_args(work, space, 3, '--no-prune', '--seed', str(seed),
                                                           *one_epoch)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in (1, 2)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    trials = _study(work).get_trials()
    complete = [t for t in trials if t.state.name == 'COMPLETE']
    assert len(complete) >= 3 and len({t.user_attrs['host'] for t in complete}) == 2  # both processes ran trials
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    best = (work / 'best_config.py').read_text()
    assert "_base_ = '" in best and 'optim_wrapper' in best
    report = json.loads((work / 'tune.json').read_text())
    assert report['trials']['COMPLETE'] == len(complete) and report['best']['value'] == max(t.value for t in complete)
    assert (work / 'plots' / 'optimization_history.png').is_file() and (work / 'trials.csv').is_file()

    again = run_tool(*_tune_args(work, space, 3, '--no-prune', *one_epoch), env={'BCCD_ROOT': sample_data_root})
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_study(work).get_trials()) == len(trials)  # the study already holds 3 finished trials
    more = run_tool(*_tune_args(work, space, len(complete) + 1, '--no-prune', *one_epoch),
                    env={'BCCD_ROOT': sample_data_root})
    assert more.returncode == 0, more.stderr[-3000:]
    assert len(_study(work).get_trials()) == len(trials) + 1


@pytest.mark.slow
def test_a_pruned_trial_stops_training_at_that_epoch(sample_data_root, tmp_path):
    import optuna
    work, space = tmp_path / 'tune', _lr_space(tmp_path)
    work.mkdir()
    study = optuna.create_study(study_name='pruning', storage=f'sqlite:///{work / "tune.db"}', direction='maximize')
    study.add_trial(optuna.trial.create_trial(  # a trial no 3-epoch run on 32 images can match at any epoch
        params={'lr': 0.015}, distributions={'lr': optuna.distributions.CategoricalDistribution([0.015, 0.005])},
        value=1.0, intermediate_values={1: 1.0, 2: 1.0, 3: 1.0}))
    result = run_tool(*_tune_args(work, space, 2, '--study-name', 'pruning', '--startup-trials', '1',
                                  '--warmup-epochs', '0', '--cfg-options', 'train_cfg.max_epochs=3',
                                  'train_cfg.val_interval=1'), env={'BCCD_ROOT': sample_data_root})
    assert result.returncode == 0, result.stderr[-3000:]
    trial = _study(work, 'pruning').get_trials()[1]
    assert trial.state.name == 'PRUNED' and list(trial.intermediate_values) == [1]
    trial_dir = work / 'trial_1'
    assert (trial_dir / 'epoch_1.pth').is_file() and not (trial_dir / 'epoch_2.pth').exists()
    assert json.loads((trial_dir / 'pruned.json').read_text())['epoch'] == 1
    assert 'trial pruned after epoch 1' in (trial_dir / 'train.log').read_text()


@pytest.mark.slow
def test_a_killed_trial_is_retried_from_its_checkpoint(sample_data_root, tmp_path):
    work, space = tmp_path / 'tune', _lr_space(tmp_path)
    args = _tune_args(work, space, 1, '--no-prune', '--heartbeat', '1', '--cfg-options', 'train_cfg.max_epochs=2',
                      'train_cfg.val_interval=1')
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env={**os.environ, 'BCCD_ROOT': sample_data_root},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end = time.time() + 600
        while not (work / 'trial_0' / 'epoch_1.pth').exists():
            assert proc.poll() is None and time.time() < end
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(3)  # past the grace period of two heartbeats
    result = run_tool(*args, env={'BCCD_ROOT': sample_data_root})
    assert result.returncode == 0, result.stderr[-3000:]
    states = [t.state.name for t in _study(work).get_trials()]
    assert states == ['FAIL', 'COMPLETE']
    log = (work / 'trial_0' / 'train.log').read_text()
    assert log.count('\n$ ') == 2 and '--resume' in log.split('\n$ ')[2].splitlines()[0]
    assert (work / 'trial_0' / 'epoch_2.pth').is_file() and not (work / 'trial_1').exists()
