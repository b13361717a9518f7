"""Running a benchmark: train or reuse, evaluate, measure and plot each config, then write the report.

Training and evaluation run the project's entry points in subprocesses
(:func:`custom.apis.entry_command`), from the repository root (configs are given relative to
it), their output appended to ``WORK_DIR/benchmark_train.log`` / ``benchmark_test.log`` below
the command line. A work dir this benchmark trains holds ``benchmark_run.json`` (the options it
was trained with) and, while training, ``benchmark.lock`` (the benchmark's pid).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from custom.apis import entry_command
from custom.benchmark import BenchmarkError
from custom.benchmark.environment import environment
from custom.benchmark.presets import REPO, repo_path
from custom.benchmark.render import write_report
from custom.benchmark.results import (dataset_facts, evaluation_pictures, final_checkpoint, fmt,
                                      read_test_metrics)
from custom.benchmark.schedule import schedule_options
from custom.benchmark.timing import SPEED_DEFAULTS, measure_inference, measure_training, quiet
from custom.engine.checkpoint_files import find_resume_checkpoint
from custom.engine.config import parse_cfg_options, read_config, train_ann_key
from custom.engine.run_settings import changed_settings, record_settings
from custom.engine.training_logs import latest_training_run, training_wall_time
from custom.visualization.curves import plot_training_curves

RUN_FILE = 'benchmark_run.json'  # in a work dir this benchmark trained: the training command's options
LOCK_FILE = 'benchmark.lock'
TRAIN_LOG = 'benchmark_train.log'
TEST_LOG = 'benchmark_test.log'
TEST_SUBDIR = 'test'             # evaluation output inside the work dir (kept apart from training runs)
_TRAIN_PROGRESS = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')


# --------------------------------------------------------------------------- subprocesses

def run_logged(command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
               progress: Any = None, epochs: int | None = None) -> None:
    """Run ``command`` from the repository root, its output appended to ``log_path`` below ``$ command``.

    With ``progress`` (a tqdm bar) and ``epochs``, mmengine's ``Epoch(train) [e][i/n]`` lines
    move the bar over ``epochs x n`` iterations. A non-zero exit raises
    :class:`BenchmarkError` with the end of the output.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with open(log_path, 'a') as log:
        log.write(f'\n$ {" ".join(command)}\n')
        log.flush()
        proc = subprocess.Popen(list(command), cwd=REPO, env={**os.environ, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line])[-40:]
            match = _TRAIN_PROGRESS.search(line) if progress is not None and epochs else None
            if match:
                epoch, it, per_epoch = map(int, match.groups())
                progress.total = epochs * per_epoch
                progress.n = (epoch - 1) * per_epoch + it
                progress.refresh()
        code = proc.wait()
    if code:
        shown = ' '.join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command[:4]))
        raise BenchmarkError(f'{shown} failed (exit {code}); end of {log_path}:\n' + ''.join(tail))


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_recorded_settings(work_dir: Path, wanted: Mapping) -> None:
    """Refuse a work dir this benchmark trained with other settings than ``wanted``."""
    changed = changed_settings(work_dir / RUN_FILE, wanted)
    if changed:
        raise BenchmarkError(
            f'{work_dir} was trained by this benchmark with other settings ({changed}) than now '
            f'({ {k: wanted.get(k) for k in changed} }): pass another --work-root, or remove {work_dir} to retrain')


def _check_not_locked(work_dir: Path) -> None:
    """Refuse a work dir another live benchmark is training (a stale lock is ignored)."""
    lock = work_dir / LOCK_FILE
    if lock.is_file():
        pid = int(lock.read_text().strip() or 0)
        if pid and pid != os.getpid() and _pid_alive(pid):
            raise BenchmarkError(f'{work_dir} is being trained by another benchmark (pid {pid})')


def ensure_trained(config: str, work_dir: Path, train_options: Sequence[str], max_epochs: int,
                   seed: int = 0, show_progress: bool = True) -> tuple[str, Path]:
    """Train ``config`` into ``work_dir`` unless done; return (what happened, final checkpoint).

    * ``epoch_<max_epochs>.pth`` exists and is complete: ``'reused'``, nothing runs;
    * this benchmark started the work dir (``benchmark_run.json``) and it holds an earlier
      checkpoint: training ``--resume`` s from the newest complete one (``'resumed'``);
    * nothing there yet: training from scratch (``'trained'``).

    A work dir this benchmark trained with other options, or holding checkpoints but not the
    final one from a run this benchmark did not start (it may still be running), is refused
    with the fix in the message. A finished work dir made elsewhere (``--work-dir-of``) is reused.
    """
    wanted = {'config': config, 'options': list(train_options), 'seed': seed}
    _check_recorded_settings(work_dir, wanted)
    done = final_checkpoint(work_dir, max_epochs)
    if done:
        return 'reused', done
    resume, _ = find_resume_checkpoint(str(work_dir)) if work_dir.is_dir() else (None, [])
    if resume and not (work_dir / RUN_FILE).is_file():
        raise BenchmarkError(
            f'{work_dir} holds {Path(resume).name} but no epoch_{max_epochs}.pth, from a run this benchmark '
            f'did not start (it may still be training): let it finish, or point --work-dir-of elsewhere')
    _check_not_locked(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    record_settings(work_dir / RUN_FILE, wanted)
    lock = work_dir / LOCK_FILE
    lock.write_text(str(os.getpid()))
    args = [config, '--work-dir', str(work_dir), '--seed', str(seed)]
    if resume:
        args.append('--resume')
    if train_options:
        args += ['--cfg-options', *train_options]
    bar = None
    if show_progress:
        from tqdm import tqdm
        bar = tqdm(desc=f'  {"resume" if resume else "train"} {Path(config).stem[:40]}', unit='it',
                   leave=False, dynamic_ncols=True)
    try:
        run_logged(entry_command('train', args), work_dir / TRAIN_LOG, progress=bar, epochs=max_epochs)
    finally:
        if bar is not None:
            bar.close()
        lock.unlink(missing_ok=True)
    done = final_checkpoint(work_dir, max_epochs)
    if done is None:
        raise BenchmarkError(f'training finished without {work_dir}/epoch_{max_epochs}.pth: see '
                             f'{work_dir}/{TRAIN_LOG}')
    return ('resumed' if resume else 'trained'), done


def ensure_evaluated(config: str, checkpoint: Path, work_dir: Path, options: Sequence[str],
                     score_thr: float = 0.3) -> Path:
    """Evaluate ``checkpoint`` on the test split into ``work_dir/test`` unless already done for it.

    Returns the test work dir: ``metrics_test.json`` and ``<timestamp>/show/`` pictures
    (ground truth left, predictions scoring >= ``score_thr`` right).
    """
    test_dir = work_dir / TEST_SUBDIR
    metrics = test_dir / 'metrics_test.json'
    if (metrics.is_file() and metrics.stat().st_mtime >= checkpoint.stat().st_mtime
            and evaluation_pictures(test_dir)
            and json.loads(metrics.read_text()).get('checkpoint') == str(checkpoint)):
        return test_dir
    args = [config, str(checkpoint), '--work-dir', str(test_dir), '--show-dir', 'show',
            '--show-score-thr', str(score_thr)]
    if options:
        args += ['--cfg-options', *options]
    run_logged(entry_command('test', args), work_dir / TEST_LOG)
    return test_dir


# --------------------------------------------------------------------------- one config

def train_options(base: Any, epochs: int | None, train_ann: str | None, cfg_options: Sequence[str]) -> list[str]:
    """The ``--cfg-options`` of training and evaluation: compressed schedule, training split, the user's."""
    options: list[str] = []
    if epochs is not None:
        options += schedule_options(base, epochs)
    if train_ann:
        key, _, value = train_ann.partition('=') if '=' in train_ann else (train_ann_key(base), '', train_ann)
        options.append(f'{key}={value}')
    return options + list(cfg_options)


def _trained_config(work_dir: Path, cfg: Any) -> Any:
    """The config a work dir trained elsewhere (``--work-dir-of``) used, from its run; else ``cfg``."""
    run = None if (work_dir / RUN_FILE).is_file() else latest_training_run(work_dir)
    if run is not None and (run / 'vis_data' / 'config.py').is_file():
        return read_config(str(run / 'vis_data' / 'config.py'))
    return cfg


def _plot_curves(work_dir: Path, report_dir: Path, name: str) -> dict[str, Any]:
    """``curves_png`` (relative to ``report_dir``), or ``None`` and ``curves_note`` saying why not."""
    try:
        png = plot_training_curves(str(work_dir), str(report_dir / 'curves' / f'{name}.png'))
    except FileNotFoundError as err:
        return {'curves_png': None, 'curves_note': str(err)}
    return {'curves_png': str(Path(png).relative_to(report_dir))}


def _copy_pictures(test_dir: Path, report_dir: Path, name: str, count: int) -> list[str]:
    """Copy ``count`` evaluation pictures to ``report_dir/predictions/<name>/``; their relative paths."""
    picture_dir = report_dir / 'predictions' / name
    shutil.rmtree(picture_dir, ignore_errors=True)
    picture_dir.mkdir(parents=True)
    copied = []
    for picture in evaluation_pictures(test_dir)[:count]:
        shutil.copy2(picture, picture_dir / picture.name)
        copied.append(str((picture_dir / picture.name).relative_to(report_dir)))
    return copied


def benchmark_one(config: str, work_dir: Path, report_dir: Path, *, name: str, epochs: int | None = None,
                  train_ann: str | None = None, cfg_options: Sequence[str] = (), seed: int = 0,
                  speed: Mapping[str, int] | None = None, device: str = 'cpu', pictures: int = 3,
                  score_thr: float = 0.3, stage: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Train or reuse, evaluate, measure and plot one config; return its row of ``report.json``."""
    speed = {**SPEED_DEFAULTS, **(speed or {})}
    with quiet():
        base = read_config(str(repo_path(config)))
        options = train_options(base, epochs, train_ann, cfg_options)
        cfg = read_config(str(repo_path(config)), parse_cfg_options(options))
        info_cfg = _trained_config(work_dir, cfg)  # its own epochs and training split
    max_epochs = int(info_cfg.train_cfg.max_epochs)

    stage('train')
    training, checkpoint = ensure_trained(config, work_dir, options, max_epochs, seed)
    stage('test')
    test_dir = ensure_evaluated(config, checkpoint, work_dir, options, score_thr)
    metrics = read_test_metrics(test_dir)
    stage('measure')
    row: dict[str, Any] = {'name': name, 'config': config, 'work_dir': str(work_dir), 'checkpoint': str(checkpoint),
                           'training': training, 'epochs': max_epochs, 'config_epochs': int(base.train_cfg.max_epochs),
                           **dataset_facts(info_cfg, config), **metrics}
    if metrics.get('note'):  # no detections at all: every class has AP 0
        for key in ('per_class_AP50', 'per_class_AP50:95'):
            row[key] = row[key] or {c: 0.0 for c in row['classes']}
    with quiet():
        row.update(measure_inference(cfg, str(checkpoint), speed['warmup'], speed['repeats'], device))
        row.update(measure_training(cfg, speed['train_warmup'], speed['train_steps'], device))
    wall = training_wall_time(work_dir)
    row['train_wall_s'] = round(wall, 1) if wall is not None else None
    stage('plots')
    row.update(_plot_curves(work_dir, report_dir, name))
    row['predictions'] = _copy_pictures(test_dir, report_dir, name, pictures)
    return row


# --------------------------------------------------------------------------- the whole benchmark

def unique_names(configs: Sequence[str]) -> dict[str, str]:
    """Each config's report name: its file stem, prefixed by its folder where two stems are alike."""
    stems = [Path(c).stem for c in configs]
    return {c: (s if stems.count(s) == 1 else f'{Path(c).parent.name}_{s}') for c, s in zip(configs, stems)}


def _warn_if_busy(env: Mapping[str, Any]) -> None:
    """Warn on stderr when the load average says other work shares the machine (slower, noisier timings)."""
    from tqdm import tqdm
    load, cores = env.get('load_avg_1m'), env.get('cpus_usable') or 1
    if load is not None and load > 0.5 * cores:
        tqdm.write(f'warning: load average {load} on {cores} cores: other work is running, the timings will be '
                   f'slower and noisier than on an idle machine', file=sys.stderr)


def _failure(config: str, name: str, err: Exception) -> dict[str, str]:
    """The ``failures`` entry of a config that raised, printed to stderr (with the traceback when unexpected)."""
    from tqdm import tqdm
    message = str(err) if isinstance(err, BenchmarkError) else f'{type(err).__name__}: {err}'
    if not isinstance(err, BenchmarkError):
        tqdm.write(traceback.format_exc(), file=sys.stderr)
    tqdm.write(f'error: {config}: {message}', file=sys.stderr)
    return {'name': name, 'config': config, 'error': message}


def run_benchmark(configs: Sequence[str], report_dir: str | Path, *, work_root: str | Path = 'work_dirs/benchmark',
                  work_dir_of: Mapping[str, str] | None = None, epochs: int | None = None,
                  train_ann: str | None = None, cfg_options: Sequence[str] = (), compare: str | None = None,
                  seed: int = 0, speed: Mapping[str, int] | None = None, device: str | None = None,
                  pictures: int = 3, score_thr: float = 0.3, title: str = 'Detector benchmark') -> dict[str, Any]:
    """Benchmark every config (see :func:`benchmark_one`) and write the report; return ``report.json``'s data.

    A config that fails is reported with its error and the others go on; the caller decides
    the exit status from ``report['failures']``.
    """
    import torch
    from tqdm import tqdm
    report_dir = Path(report_dir)  # created once the arguments are known to be good
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    work_dir_of = {str(Path(k)): v for k, v in (work_dir_of or {}).items()}
    unknown = set(work_dir_of) - {str(Path(c)) for c in configs}
    if unknown:
        raise BenchmarkError(f'--work-dir-of names a config not benchmarked: {", ".join(sorted(unknown))}')
    old = json.loads(Path(compare).read_text()) if compare else None  # fail early on a bad --compare
    names = unique_names(configs)
    speed = {**SPEED_DEFAULTS, **(speed or {})}
    report: dict[str, Any] = {'title': title, 'environment': environment(), 'models': [], 'failures': [],
                              'settings': {'epochs': epochs, 'train_ann': train_ann, 'cfg_options': list(cfg_options),
                                           'seed': seed, 'device': device, 'speed': speed,
                                           'work_root': str(work_root)}}
    _warn_if_busy(report['environment'])
    bar = tqdm(configs, desc='benchmark', unit='config', dynamic_ncols=True)
    for config in bar:
        name = names[config]
        work_dir = Path(work_dir_of.get(str(Path(config)), Path(work_root) / name))

        def stage(text: str, name: str = name) -> None:
            bar.set_postfix_str(f'{name}: {text}')

        try:
            row = benchmark_one(config, work_dir, report_dir, name=name, epochs=epochs, train_ann=train_ann,
                                cfg_options=cfg_options, seed=seed, speed=speed, device=device,
                                pictures=pictures, score_thr=score_thr, stage=stage)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001  one broken config must not lose the others' results
            report['failures'].append(_failure(config, name, err))
            continue
        report['models'].append(row)
        tqdm.write(f'{name}: {row["training"]}, mAP50 {fmt(row["mAP50"])}, {row["ms_per_img"]:.1f} ms/img, '
                   f'{row["train_img_per_s"]:.1f} train img/s')
    bar.close()
    write_report(report, report_dir, old=old, old_path=compare)
    return report
