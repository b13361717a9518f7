"""Benchmark several detector configs and write a report: accuracy, speed, size, curves, pictures.

Used by ``tools/benchmark.py``. For each config the model is trained through the real CLI
(``tools/train.py``, in a subprocess) unless its work dir already holds the final checkpoint,
an interrupted run is continued with ``--resume``, the final checkpoint is evaluated on the
test split with ``tools/test.py`` (COCO mAP, per-class AP, pictures), and speed, parameters and
FLOPs are measured in this process. :func:`write_report` renders ``report.json``,
``report.md`` and a self-contained ``report.html`` with PNG plots.

Heavy imports (torch, mmengine, mmdet, matplotlib) happen inside the functions that need them,
so rendering a report from a results dict needs only matplotlib.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import html
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from custom.config_check import innermost_dataset
from custom.curves import latest_training_run, plot_training_curves, training_wall_time

REPO = Path(__file__).resolve().parents[1]
PRESETS: dict[str, tuple[str, ...]] = {  # globs, resolved when used (configs are being added)
    'cpu-bccd': ('configs/bccd/*cpu*.py',),
    'cpu-face-mask': ('configs/face_mask/*cpu*.py',),
    'cpu-all': ('configs/bccd/*cpu*.py', 'configs/face_mask/*cpu*.py'),
}
PRESET_EXCLUDE = re.compile(r'-sample\.py$')  # the demo config trains on the 52-image sample only
SCATTER_PX = (800, 500)     # speed_vs_map.png, width x height in pixels
PER_CLASS_PX = (1100, 420)  # per_class_ap.png
DPI = 100
RUN_FILE = 'benchmark_run.json'  # in a work dir this benchmark trained: the training command's options
LOCK_FILE = 'benchmark.lock'
TEST_SUBDIR = 'test'             # evaluation output inside the work dir (kept apart from training runs)


class BenchmarkError(RuntimeError):
    """A problem the user can fix (bad path, stale work dir, failed subprocess); the message says how."""


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence mmengine's INFO logs, pycocotools' prints and library warnings (errors still raise)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------- configs and options

def resolve_configs(configs: Sequence[str] = (), presets: Sequence[str] = ()) -> list[str]:
    """The configs to benchmark: ``configs`` as given, then each preset's glob matches, without repeats.

    Raises :class:`BenchmarkError` naming every config file that does not exist.
    """
    found: list[str] = []
    for preset in presets:
        if preset not in PRESETS:
            raise BenchmarkError(f'unknown preset {preset!r}: choose from {", ".join(PRESETS)}')
        for pattern in PRESETS[preset]:
            found += sorted(str(p.relative_to(REPO)) for p in REPO.glob(pattern) if not PRESET_EXCLUDE.search(p.name))
    missing = [c for c in configs if not _repo_path(c).is_file()]
    if missing:
        raise BenchmarkError('no such config file: ' + ', '.join(missing))
    out: list[str] = []
    for config in [*configs, *found]:
        if config not in out:
            out.append(config)
    if not out:
        raise BenchmarkError('no configs: pass --configs A.py B.py or --preset')
    return out


def _repo_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.is_absolute() else (Path.cwd() / path if (Path.cwd() / path).exists() else REPO / path)


def parse_cfg_options(options: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings parsed exactly as ``--cfg-options`` of the tools (mmengine's DictAction)."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o if options else {}


def load_config(config: str, options: Sequence[str] = ()):
    """``Config.fromfile(config)`` with ``key=value`` overrides merged (as the tools do)."""
    from custom.cli import read_config
    return read_config(str(_repo_path(config)), parse_cfg_options(options))


def train_ann_key(cfg) -> str:
    """The ``--cfg-options`` key of the training annotation file, through dataset wrappers."""
    dataset, key = cfg.train_dataloader.dataset, 'train_dataloader.dataset'
    while 'dataset' in dataset:
        dataset, key = dataset.dataset, key + '.dataset'
    return key + '.ann_file'


def _scale(value: int, epochs: int, max_epochs: int) -> int:
    return int(round(value * epochs / max_epochs))


def schedule_options(cfg, epochs: int) -> list[str]:
    """``--cfg-options`` that train ``cfg`` for ``epochs`` with its schedule compressed to fit.

    Only ``train_cfg.max_epochs`` changing would cut the schedule short (an un-annealed cosine,
    LR steps and the no-mosaic stage never reached), because configs compute those from
    ``max_epochs`` when they are read. So epoch-based scheduler ``begin``/``end``/``T_max``/
    ``milestones`` and ``PipelineSwitchHook.switch_epoch`` are scaled by ``epochs / max_epochs``;
    iteration-based warm-ups stay; ``dynamic_intervals`` is dropped; ``val_interval`` is capped at
    ``epochs`` so that training validates at least once.
    """
    old = int(cfg.train_cfg.max_epochs)
    opts = [f'train_cfg.max_epochs={epochs}']
    if epochs == old:
        return opts
    if int(cfg.train_cfg.get('val_interval', 1)) > epochs:
        opts.append(f'train_cfg.val_interval={epochs}')
    if cfg.train_cfg.get('dynamic_intervals'):
        opts.append('train_cfg.dynamic_intervals=None')
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, Mapping):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        if not sched.get('by_epoch', True):
            continue
        for key in ('begin', 'T_max'):
            if key in sched:
                opts.append(f'param_scheduler.{i}.{key}={_scale(sched[key], epochs, old)}')
        if 'end' in sched and sched['end'] <= old:
            opts.append(f'param_scheduler.{i}.end={_scale(sched["end"], epochs, old)}')
        if 'milestones' in sched:
            milestones = ','.join(str(_scale(m, epochs, old)) for m in sched['milestones'])
            opts.append(f'param_scheduler.{i}.milestones=[{milestones}]')
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') == 'PipelineSwitchHook':
            opts.append(f'custom_hooks.{i}.switch_epoch={_scale(hook["switch_epoch"], epochs, old)}')
    return opts


# --------------------------------------------------------------------------- environment

def environment() -> dict[str, Any]:
    """Machine and software the numbers were measured on (CPU model, cores, GPU, versions, date)."""
    import torch
    info: dict[str, Any] = {'date': datetime.now(timezone.utc).isoformat(timespec='seconds')}
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info.update(cpu=cpu, cpu_count=os.cpu_count(),
                cpus_usable=len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
                torch_threads=torch.get_num_threads(), platform=platform.platform(),
                load_avg_1m=round(os.getloadavg()[0], 2) if hasattr(os, 'getloadavg') else None)
    info['gpu'] = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                   if torch.cuda.is_available() else None)
    versions = {'python': platform.python_version(), 'torch': torch.__version__}
    for name in ('mmdet', 'mmcv', 'mmengine', 'numpy'):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    info['versions'] = versions
    return info


# --------------------------------------------------------------------------- measurement

def _init_scope(cfg) -> None:
    from mmdet.utils import register_all_modules
    from mmengine.utils import import_modules_from_strings
    register_all_modules(init_default_scope=True)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)


def build_model(cfg, checkpoint: str | None = None, device: str = 'cpu'):
    """The config's detector on ``device``, with ``checkpoint``'s weights when given."""
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint
    _init_scope(cfg)
    model = MODELS.build(cfg.model)
    if checkpoint:
        import custom.checkpoint  # noqa: F401  (weights_only-safe loading of mmengine checkpoints)
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    return model.to(device)


def _loader(dataloader_cfg, batch_size: int | None = None, shuffle: bool = False):
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(dataloader_cfg)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    if batch_size is not None:
        loader_cfg.update(batch_size=batch_size)
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=shuffle)
    return Runner.build_dataloader(loader_cfg, seed=0)


def _take(loader, n: int) -> list:
    """``n`` batches from ``loader``, cycling over it when it is shorter."""
    batches: list = []
    while len(batches) < n:
        before = len(batches)
        for batch in loader:
            batches.append(batch)
            if len(batches) == n:
                break
        if len(batches) == before:
            raise BenchmarkError('the dataloader is empty')
    return batches


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def time_calls(fn: Callable[[int], Any], warmup: int, repeats: int, device: str = 'cpu') -> list[float]:
    """Seconds of each of ``repeats`` calls ``fn(i)`` after ``warmup`` untimed calls."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn(warmup + i)
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def measure_inference(cfg, checkpoint: str | None, warmup: int = 3, repeats: int = 20,
                      device: str = 'cpu') -> dict[str, Any]:
    """Inference time per image at batch 1, plus parameters and FLOPs at the real test input size.

    Test images go through the config's test pipeline first (decoding and resizing are not
    timed); each timed call is ``model.test_step`` (normalisation/padding, forward, box decoding
    and NMS) in eval mode without gradients. ``warmup`` calls are excluded; ``ms_per_img`` is
    the median of ``repeats`` calls, cycling over the first test images. FLOPs come from
    ``mmengine.analysis.get_model_complexity_info`` on the network's ``tensor`` forward (no
    post-processing) for the first test image (1 multiply-add = 1 FLOP, fvcore's convention).
    """
    import torch
    from mmengine.analysis import get_model_complexity_info

    model = build_model(cfg, checkpoint, device).eval()
    batches = _take(_loader(cfg.test_dataloader, batch_size=1), min(repeats, 20))
    with torch.no_grad():
        times = time_calls(lambda i: model.test_step(batches[i % len(batches)]), warmup, repeats, device)
        data = model.data_preprocessor(batches[0], False)
        inputs = data['inputs']
        forward = model.forward
        model.forward = lambda x: forward(x, data['data_samples'], mode='tensor')
        try:  # the analyzer warns about every op it does not count: run it inside quiet()
            complexity = get_model_complexity_info(model, inputs=(inputs,), show_table=False, show_arch=False)
        finally:
            del model.forward
    height, width = inputs.shape[-2:]
    return {'ms_per_img': 1000 * statistics.median(times), 'ms_per_img_runs': [round(1000 * t, 2) for t in times],
            'input_size': f'{width}x{height}', 'params': int(complexity['params']),
            'flops': int(complexity['flops'])}


def measure_training(cfg, warmup: int = 2, steps: int = 5, device: str = 'cpu') -> dict[str, Any]:
    """Training throughput: images/s of ``model.train_step`` at the config's batch size.

    Batches are produced by the config's train pipeline beforehand (data loading is not timed);
    each timed step is preprocessing with batch augments, forward, loss, backward and the
    optimizer update of a freshly built model with the config's optimizer. ``warmup`` steps are
    excluded; ``train_img_per_s`` = batch size / median step time.
    """
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper

    model = build_model(cfg, None, device).train()
    optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    batch_size = int(cfg.train_dataloader.batch_size)
    batches = _take(_loader(cfg.train_dataloader, shuffle=True), warmup + steps)
    hub = MessageHub.get_current_instance()  # batch augments (e.g. random resize) read the iteration

    def step(i: int) -> None:
        hub.update_info('iter', i)
        model.train_step(batches[i], optim_wrapper)

    times = time_calls(step, warmup, steps, device)
    return {'train_img_per_s': batch_size / statistics.median(times), 'batch_size': batch_size,
            'train_step_s_runs': [round(t, 3) for t in times]}


# --------------------------------------------------------------------------- training and evaluation

def final_checkpoint(work_dir: Path, max_epochs: int) -> Path | None:
    """``work_dir/epoch_<max_epochs>.pth`` when it is a complete checkpoint, else ``None``."""
    from custom.checkpoint import checkpoint_is_complete
    path = work_dir / f'epoch_{max_epochs}.pth'
    return path if path.is_file() and checkpoint_is_complete(str(path)) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_tool(args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
             progress: Any = None, epochs: int | None = None) -> None:
    """Run ``python tools/...`` from the repo root, output appended to ``log_path``.

    With ``progress`` (a tqdm bar) and ``epochs``, mmengine's ``Epoch(train) [e][i/n]`` lines
    move the bar over ``epochs x n`` iterations. A non-zero exit raises
    :class:`BenchmarkError` with the end of the output.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')
    tail: list[str] = []
    with open(log_path, 'a') as log:
        log.write(f'\n$ {sys.executable} {" ".join(args)}\n')
        log.flush()
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env={**os.environ, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line])[-40:]
            match = pattern.search(line) if progress is not None and epochs else None
            if match:
                epoch, it, per_epoch = map(int, match.groups())
                progress.total = epochs * per_epoch
                progress.n = (epoch - 1) * per_epoch + it
                progress.refresh()
        code = proc.wait()
    if code:
        raise BenchmarkError(f'{" ".join(args[:2])} failed (exit {code}); end of {log_path}:\n' + ''.join(tail))


def ensure_trained(config: str, work_dir: Path, train_options: Sequence[str], max_epochs: int,
                   seed: int = 0, show_progress: bool = True) -> tuple[str, Path]:
    """Train ``config`` into ``work_dir`` unless done; return (what happened, final checkpoint).

    * ``epoch_<max_epochs>.pth`` exists and is complete: ``'reused'``, nothing runs;
    * this benchmark started the work dir (``benchmark_run.json``) and it holds an earlier
      checkpoint: ``tools/train.py --resume`` continues from the newest complete one (``'resumed'``);
    * nothing there yet: ``tools/train.py`` from scratch (``'trained'``).

    A work dir this benchmark trained with other options, or holding checkpoints but not the
    final one from a run this benchmark did not start (it may still be running), is refused
    with the fix in the message. A finished work dir made elsewhere (``--work-dir-of``) is reused.
    """
    from custom.checkpoint import find_resume_checkpoint
    run_file = work_dir / RUN_FILE
    wanted = {'config': config, 'options': list(train_options), 'seed': seed}
    if run_file.is_file():
        recorded = json.loads(run_file.read_text())
        if recorded != wanted:
            raise BenchmarkError(
                f'{work_dir} was trained by this benchmark with other settings ({recorded}) than now '
                f'({wanted}): pass another --work-root, or remove {work_dir} to retrain')
    done = final_checkpoint(work_dir, max_epochs)
    if done:
        return 'reused', done
    resume, _ = find_resume_checkpoint(str(work_dir)) if work_dir.is_dir() else (None, [])
    if resume and not run_file.is_file():
        raise BenchmarkError(
            f'{work_dir} holds {Path(resume).name} but no epoch_{max_epochs}.pth, from a run this benchmark '
            f'did not start (it may still be training): let it finish, or point --work-dir-of elsewhere')
    lock = work_dir / LOCK_FILE
    if lock.is_file():
        pid = int(lock.read_text().strip() or 0)
        if pid and pid != os.getpid() and _pid_alive(pid):
            raise BenchmarkError(f'{work_dir} is being trained by another benchmark (pid {pid})')
    work_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(wanted, indent=2))
    lock.write_text(str(os.getpid()))
    args = ['tools/train.py', config, '--work-dir', str(work_dir), '--seed', str(seed)]
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
        run_tool(args, work_dir / 'benchmark_train.log', progress=bar, epochs=max_epochs)
    finally:
        if bar is not None:
            bar.close()
        lock.unlink(missing_ok=True)
    done = final_checkpoint(work_dir, max_epochs)
    if done is None:
        raise BenchmarkError(f'training finished without {work_dir}/epoch_{max_epochs}.pth: see '
                             f'{work_dir}/benchmark_train.log')
    return ('resumed' if resume else 'trained'), done


def ensure_evaluated(config: str, checkpoint: Path, work_dir: Path, options: Sequence[str],
                     score_thr: float = 0.3) -> Path:
    """``tools/test.py`` on the test split into ``work_dir/test`` unless already done for ``checkpoint``.

    Returns the test work dir: ``metrics_test.json`` and ``<timestamp>/show/`` pictures
    (ground truth left, predictions scoring >= ``score_thr`` right).
    """
    test_dir = work_dir / TEST_SUBDIR
    metrics = test_dir / 'metrics_test.json'
    if metrics.is_file() and metrics.stat().st_mtime >= checkpoint.stat().st_mtime and _pictures(test_dir):
        if json.loads(metrics.read_text()).get('checkpoint') == str(checkpoint):
            return test_dir
    args = ['tools/test.py', config, str(checkpoint), '--work-dir', str(test_dir), '--show-dir', 'show',
            '--show-score-thr', str(score_thr)]
    if options:
        args += ['--cfg-options', *options]
    run_tool(args, work_dir / 'benchmark_test.log')
    return test_dir


def _pictures(test_dir: Path) -> list[Path]:
    """Pictures of the newest evaluation run that drew some."""
    for run in sorted((p for p in test_dir.glob('*/show') if p.is_dir()), reverse=True):
        found = sorted(p for p in run.iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))
        if found:
            return found
    return []


_TABLE_ROW = re.compile(r'^\|\s*(.+?)\s*\|\s*([\w.\-]+)\s*\|\s*([\w.\-]+)\s*\|')


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) or value < 0 else value


def read_test_metrics(test_dir: Path) -> dict[str, Any]:
    """mAP50, mAP50:95 and per-class AP50 / AP50:95 of an evaluation by ``tools/test.py``.

    Reads ``metrics_test.json`` (keys of :func:`custom.evaluation.summarize_coco_metrics`);
    where it has no ``per_class_AP50``, that comes from the class-wise table mmdet's CocoMetric
    writes to the evaluation log (columns category, mAP, mAP_50, ...).
    """
    summary = json.loads((test_dir / 'metrics_test.json').read_text())
    out = {'mAP50': summary['overall'].get('mAP50'), 'mAP50:95': summary['overall'].get('mAP50:95'),
           'mAP75': summary['overall'].get('mAP75'),
           'per_class_AP50:95': dict(summary.get('per_class_AP50:95') or {}),
           'per_class_AP50': dict(summary.get('per_class_AP50') or {})}
    if not out['per_class_AP50']:
        logs = sorted(test_dir.glob('*/*.log'))
        rows: dict[str, float | None] = {}
        if logs:
            header = None
            for line in logs[-1].read_text(errors='replace').splitlines():
                match = _TABLE_ROW.match(line)
                if not match:
                    continue
                cells = [c.strip() for c in line.strip().strip('|').split('|')]
                if cells[:3] == ['category', 'mAP', 'mAP_50']:
                    header, rows = cells, {}
                elif header and len(cells) == len(header):
                    rows[cells[0]] = _num(cells[2])
        out['per_class_AP50'] = rows
    if out['mAP50'] is None and not summary['overall'] and not summary.get('raw'):
        # mmdet's CocoMetric returns nothing when the model detected nothing at all
        # ("The testing results of the whole dataset is empty"): that is an AP of 0, not a missing one.
        out.update({'mAP50': 0.0, 'mAP50:95': 0.0, 'mAP75': 0.0, 'note': 'no detections on the test split'})
    return out


def _count_images(ann_file: str) -> int | None:
    try:
        return len(json.loads(Path(ann_file).read_text())['images'])
    except (OSError, ValueError, KeyError):
        return None


def dataset_info(cfg, config: str) -> dict[str, Any]:
    """Dataset name (the config's folder), training annotation file and image counts."""
    dataset = innermost_dataset(cfg.train_dataloader.dataset)
    test = cfg.test_dataloader.dataset
    root = dataset.get('data_root', '') or ''
    test_root = test.get('data_root', '') or ''
    return {'dataset': Path(config).parent.name, 'train_ann': dataset.ann_file,
            'train_images': _count_images(os.path.join(root, dataset.ann_file)),
            'test_ann': test.ann_file, 'test_images': _count_images(os.path.join(test_root, test.ann_file)),
            'classes': list(cfg.get('test_dataloader').dataset.get('metainfo', {}).get('classes', []))}


def benchmark_one(config: str, work_dir: Path, report_dir: Path, *, name: str, epochs: int | None = None,
                  train_ann: str | None = None, cfg_options: Sequence[str] = (), seed: int = 0,
                  speed: Mapping[str, int] | None = None, device: str = 'cpu', pictures: int = 3,
                  score_thr: float = 0.3, stage: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Train or reuse, evaluate, measure and plot one config; return its row of ``report.json``."""
    speed = {'warmup': 3, 'repeats': 20, 'train_warmup': 2, 'train_steps': 5, **(speed or {})}
    with quiet():
        base = load_config(config)
        options: list[str] = []
        if epochs is not None:
            options += schedule_options(base, epochs)
        if train_ann:
            key, _, value = train_ann.partition('=') if '=' in train_ann else (train_ann_key(base), '', train_ann)
            options.append(f'{key}={value}')
        options += list(cfg_options)
        cfg = load_config(config, options)
        info_cfg = cfg
        run = None if (work_dir / RUN_FILE).is_file() else latest_training_run(work_dir)
        if run is not None and (run / 'vis_data' / 'config.py').is_file():
            # a work dir trained elsewhere (--work-dir-of): its own settings (epochs, training split)
            info_cfg = load_config(str(run / 'vis_data' / 'config.py'))
    max_epochs = int(info_cfg.train_cfg.max_epochs)

    stage('train')
    training, checkpoint = ensure_trained(config, work_dir, options, max_epochs, seed)
    stage('test')
    test_dir = ensure_evaluated(config, checkpoint, work_dir, options, score_thr)
    metrics = read_test_metrics(test_dir)
    stage('measure')
    row: dict[str, Any] = {'name': name, 'config': config, 'work_dir': str(work_dir), 'checkpoint': str(checkpoint),
                           'training': training, 'epochs': max_epochs, 'config_epochs': int(base.train_cfg.max_epochs),
                           **dataset_info(info_cfg, config), **metrics}
    if metrics.get('note'):  # no detections at all: every class has AP 0
        for key in ('per_class_AP50', 'per_class_AP50:95'):
            row[key] = row[key] or {c: 0.0 for c in row['classes']}
    with quiet():
        row.update(measure_inference(cfg, str(checkpoint), speed['warmup'], speed['repeats'], device))
        row.update(measure_training(cfg, speed['train_warmup'], speed['train_steps'], device))
    wall = training_wall_time(work_dir)
    row['train_wall_s'] = round(wall, 1) if wall is not None else None
    stage('plots')
    curves = report_dir / 'curves' / f'{name}.png'
    try:
        row['curves_png'] = str(Path(plot_training_curves(str(work_dir), str(curves))).relative_to(report_dir))
    except FileNotFoundError as err:
        row['curves_png'], row['curves_note'] = None, str(err)
    picture_dir = report_dir / 'predictions' / name
    shutil.rmtree(picture_dir, ignore_errors=True)
    picture_dir.mkdir(parents=True)
    row['predictions'] = []
    for picture in _pictures(test_dir)[:pictures]:
        shutil.copy2(picture, picture_dir / picture.name)
        row['predictions'].append(str((picture_dir / picture.name).relative_to(report_dir)))
    return row


def run_benchmark(configs: Sequence[str], report_dir: str | Path, *, work_root: str | Path = 'work_dirs/benchmark',
                  work_dir_of: Mapping[str, str] | None = None, epochs: int | None = None,
                  train_ann: str | None = None, cfg_options: Sequence[str] = (), compare: str | None = None,
                  seed: int = 0, speed: Mapping[str, int] | None = None, device: str | None = None,
                  pictures: int = 3, score_thr: float = 0.3, title: str = 'Detector benchmark') -> dict[str, Any]:
    """Benchmark every config (see :func:`benchmark_one`) and write the report; return ``report.json``'s data.

    A config that fails is reported with its error and the others go on; the caller decides
    the exit status from ``report['failures']``.
    """
    from tqdm import tqdm
    import torch
    report_dir = Path(report_dir)  # created once the arguments are known to be good
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    work_dir_of = {str(Path(k)): v for k, v in (work_dir_of or {}).items()}
    unknown = set(work_dir_of) - {str(Path(c)) for c in configs}
    if unknown:
        raise BenchmarkError(f'--work-dir-of names a config not benchmarked: {", ".join(sorted(unknown))}')
    old = json.loads(Path(compare).read_text()) if compare else None  # fail early on a bad --compare
    names = _unique_names(configs)
    speed = {'warmup': 3, 'repeats': 20, 'train_warmup': 2, 'train_steps': 5, **(speed or {})}
    report: dict[str, Any] = {'title': title, 'environment': environment(), 'models': [], 'failures': [],
                              'settings': {'epochs': epochs, 'train_ann': train_ann, 'cfg_options': list(cfg_options),
                                           'seed': seed, 'device': device, 'speed': speed,
                                           'work_root': str(work_root)}}
    load, cores = report['environment'].get('load_avg_1m'), report['environment'].get('cpus_usable') or 1
    if load is not None and load > 0.5 * cores:
        tqdm.write(f'warning: load average {load} on {cores} cores: other work is running, the timings will be '
                   f'slower and noisier than on an idle machine', file=sys.stderr)
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
            message = str(err) if isinstance(err, BenchmarkError) else f'{type(err).__name__}: {err}'
            if not isinstance(err, BenchmarkError):
                tqdm.write(traceback.format_exc(), file=sys.stderr)
            report['failures'].append({'name': name, 'config': config, 'error': message})
            tqdm.write(f'error: {config}: {message}', file=sys.stderr)
            continue
        report['models'].append(row)
        tqdm.write(f'{name}: {row["training"]}, mAP50 {_fmt(row["mAP50"])}, {row["ms_per_img"]:.1f} ms/img, '
                   f'{row["train_img_per_s"]:.1f} train img/s')
    bar.close()
    write_report(report, report_dir, old=old, old_path=compare)
    return report


def _unique_names(configs: Sequence[str]) -> dict[str, str]:
    stems = [Path(c).stem for c in configs]
    return {c: (s if stems.count(s) == 1 else f'{Path(c).parent.name}_{s}') for c, s in zip(configs, stems)}


# --------------------------------------------------------------------------- report

def _fmt(value: float | None, digits: int = 3) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


def human(value: float | None, unit: str = '') -> str:
    """``4870000 -> '4.87 M'``: thousands, millions, giga."""
    if value is None:
        return 'n/a'
    for scale, prefix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(value) >= scale:
            return f'{value / scale:.2f} {prefix}{unit}'
    return f'{value:.0f} {unit}'.strip()


def duration(seconds: float | None) -> str:
    """``95 -> '1.6 min'``, ``5400 -> '1.50 h'``."""
    if seconds is None:
        return 'n/a'
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 7200:
        return f'{seconds / 60:.1f} min'
    return f'{seconds / 3600:.2f} h'


def per_class_cell(per_class: Mapping[str, float | None]) -> str:
    return ', '.join(f'{c} {_fmt(v, 2)}' for c, v in per_class.items()) or 'n/a'


RESULT_COLUMNS = ('model', 'dataset (train split)', 'input', 'epochs', 'mAP50', 'mAP50:95', 'AP50 per class',
                  'params', 'FLOPs', 'ms/img', 'train img/s', 'batch', 'train wall time')


def result_rows(models: Sequence[Mapping]) -> list[list[str]]:
    """The cells of the results table, one list per model, in :data:`RESULT_COLUMNS` order."""
    rows = []
    for m in models:
        dataset = f"{m.get('dataset', '?')} ({Path(str(m.get('train_ann', '?'))).stem}"
        dataset += f", {m['train_images']} img)" if m.get('train_images') else ')'
        epochs = str(m['epochs'])
        if m.get('config_epochs') and m['config_epochs'] != m['epochs']:
            epochs += f" (config {m['config_epochs']})"
        rows.append([m['name'], dataset, m.get('input_size', 'n/a'), epochs, _fmt(m.get('mAP50')),
                     _fmt(m.get('mAP50:95')), per_class_cell(m.get('per_class_AP50') or {}), human(m.get('params')),
                     human(m.get('flops')), _fmt(m.get('ms_per_img'), 1), _fmt(m.get('train_img_per_s'), 1),
                     str(m.get('batch_size', 'n/a')), duration(m.get('train_wall_s'))])
    return rows


def compare_reports(new: Mapping, old: Mapping) -> list[dict[str, Any]]:
    """Per model (matched by name) the change in mAP50, mAP50:95, ms/img and train img/s vs ``old``.

    Models only in one report appear with ``status`` ``'new'`` or ``'removed'`` and no deltas.
    """
    old_models = {m['name']: m for m in old.get('models', [])}
    out = []
    for m in new.get('models', []):
        o = old_models.get(m['name'])
        row: dict[str, Any] = {'name': m['name'], 'status': 'changed' if o else 'new'}
        if o:
            for key in ('mAP50', 'mAP50:95', 'ms_per_img', 'train_img_per_s'):
                a, b = o.get(key), m.get(key)
                row[key] = {'old': a, 'new': b, 'delta': None if a is None or b is None else b - a,
                            'percent': None if not a or b is None else 100 * (b - a) / a}
        out.append(row)
    names = {m['name'] for m in new.get('models', [])}
    out += [{'name': n, 'status': 'removed'} for n in old_models if n not in names]
    return out


def _delta_cell(d: Mapping | None, digits: int, percent: bool) -> str:
    if not d or d.get('delta') is None:
        return 'n/a'
    text = f"{_fmt(d['old'], digits)} -> {_fmt(d['new'], digits)} ({d['delta']:+.{digits}f}"
    if percent and d.get('percent') is not None:
        text += f", {d['percent']:+.0f}%"
    return text + ')'


DELTA_COLUMNS = ('model', 'mAP50', 'mAP50:95', 'ms/img', 'train img/s')


def delta_rows(comparison: Sequence[Mapping]) -> list[list[str]]:
    rows = []
    for r in comparison:
        if r['status'] != 'changed':
            rows.append([r['name'], *[f"({r['status']})"] * 4])
            continue
        rows.append([r['name'], _delta_cell(r['mAP50'], 3, False), _delta_cell(r['mAP50:95'], 3, False),
                     _delta_cell(r['ms_per_img'], 1, True), _delta_cell(r['train_img_per_s'], 1, True)])
    return rows


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _legend_below(fig, handles: list, labels: list[str], ncol: int) -> None:
    """A figure legend under the axes, with room kept for its rows (the figure size stays fixed)."""
    rows = max(1, math.ceil(len(labels) / ncol))
    height_px = fig.get_size_inches()[1] * fig.dpi
    bottom = min(0.45, (rows * 16 + 12) / height_px)
    if labels:
        fig.legend(handles, labels, loc='lower center', ncol=ncol, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, bottom if labels else 0, 1, 1))


def plot_speed_vs_map(models: Sequence[Mapping], out_png: str | Path) -> str:
    """Scatter of inference ms/img (x) against test mAP50 (filled) and mAP50:95 (hollow).

    Points carry the model's number; the legend under the plot gives ``number: name``.
    The PNG is :data:`SCATTER_PX` pixels whatever the number of models.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(SCATTER_PX[0] / DPI, SCATTER_PX[1] / DPI), dpi=DPI)
    handles, labels = [], []
    for i, m in enumerate(models):
        color, x = f'C{i % 10}', m.get('ms_per_img')
        a50, a5095 = m.get('mAP50'), m.get('mAP50:95')
        if x is None or a50 is None:
            continue
        handles.append(ax.scatter([x], [a50], color=color, s=60))
        labels.append(f"{i + 1}: {m['name']}")
        if a5095 is not None:
            ax.scatter([x], [a5095], facecolors='none', edgecolors=color, s=60)
            ax.plot([x, x], [a5095, a50], color=color, lw=0.8, alpha=0.6)
        ax.annotate(str(i + 1), (x, a50), textcoords='offset points', xytext=(6, 4), fontsize=9, color=color)
    xs = [m['ms_per_img'] for m in models if m.get('ms_per_img')]
    if xs and max(xs) / min(xs) > 10:
        ax.set_xscale('log')
    ax.margins(x=0.15)
    ax.set(xlabel='inference ms/image (batch 1, lower is better)', ylabel='test mAP', ylim=(0, 1),
           title='speed vs accuracy (filled: mAP50, hollow: mAP50:95)')
    ax.grid(alpha=0.3)
    _legend_below(fig, handles, labels, ncol=2)
    fig.savefig(out_png, dpi=DPI)
    plt.close(fig)
    return str(out_png)


def plot_per_class_ap(models: Sequence[Mapping], out_png: str | Path) -> str:
    """Grouped bars of per-class AP50 (left) and AP50:95 (right), one bar per model and class.

    The PNG is :data:`PER_CLASS_PX` pixels; models from different datasets share the x axis
    (each draws the classes it has).
    """
    plt = _plt()
    from matplotlib.patches import Patch
    fig, axes = plt.subplots(1, 2, figsize=(PER_CLASS_PX[0] / DPI, PER_CLASS_PX[1] / DPI), dpi=DPI)
    handles: dict[str, Any] = {}
    for ax, key, label in zip(axes, ('per_class_AP50', 'per_class_AP50:95'), ('AP50', 'AP50:95')):
        classes: list[str] = []
        for m in models:
            classes += [c for c in (m.get(key) or {}) if c not in classes]
        width = 0.8 / max(1, len(models))
        for i, m in enumerate(models):
            values = m.get(key) or {}
            xs = [j + i * width for j, c in enumerate(classes) if values.get(c) is not None]
            ys = [values[c] for c in classes if values.get(c) is not None]
            ax.bar(xs, ys, width, color=f'C{i % 10}')
            handles.setdefault(f"{i + 1}: {m['name']}", Patch(color=f'C{i % 10}'))
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(classes))], classes, rotation=15)
        ax.set(ylim=(0, 1), ylabel=f'test {label}', title=f'per-class {label}')
        ax.grid(axis='y', alpha=0.3)
    _legend_below(fig, list(handles.values()), list(handles), ncol=3)
    fig.savefig(out_png, dpi=DPI)
    plt.close(fig)
    return str(out_png)


METHOD = [
    'mAP50 / mAP50:95: COCO bbox AP (pycocotools via mmdet CocoMetric) of the final checkpoint '
    '(epoch_<epochs>.pth, not the best on val) on the test split, through tools/test.py.',
    'ms/img: median over {repeats} calls of model.test_step at batch 1 (normalisation, forward, box decoding, '
    'NMS) after {warmup} warm-up calls, eval mode, no gradients; image decoding and the test pipeline are '
    'not timed. Device: {device}.',
    'train img/s: batch size / median time of {train_steps} model.train_step calls (forward, loss, backward, '
    'optimizer step) after {train_warmup} warm-up steps, on batches prepared beforehand by the train pipeline '
    '(data loading not timed).',
    'params / FLOPs: mmengine.analysis.get_model_complexity_info on the network forward (no post-processing) '
    'at the input size shown (the first test image after the test pipeline); 1 multiply-add = 1 FLOP.',
    'train wall time: from the training logs: each training run from its first line to the last checkpoint it '
    'saved (validation between checkpoints included; work lost when a run was killed is not), summed over '
    'resumed runs.',
]


def _sections(report: Mapping) -> dict[str, str]:
    names = {'results': 'Results', 'speed': 'Speed vs accuracy', 'per_class': 'Per-class AP',
             'curves': 'Training curves', 'predictions': 'Predictions', 'method': 'Method',
             'environment': 'Environment', 'failures': 'Failures', 'comparison': 'Comparison'}
    if report.get('comparison'):
        names['comparison'] = f"Comparison with {report['comparison']['against']}"
    return names


SECTION_TITLES = ('Results', 'Speed vs accuracy', 'Per-class AP', 'Training curves', 'Predictions', 'Method',
                  'Environment')


def _env_rows(env: Mapping) -> list[tuple[str, str]]:
    rows = [('date (UTC)', env.get('date')), ('CPU', env.get('cpu')),
            ('cores', f"{env.get('cpu_count')} ({env.get('cpus_usable')} usable, "
                      f"torch threads {env.get('torch_threads')})"),
            ('GPU', ', '.join(env['gpu']) if env.get('gpu') else 'none'), ('platform', env.get('platform')),
            ('load average (1 min) at start', f"{env.get('load_avg_1m')} (timings assume an otherwise idle machine)")]
    rows += [(name, version) for name, version in (env.get('versions') or {}).items()]
    return [(k, str(v)) for k, v in rows]


def _machine(env: Mapping) -> str:
    return (f"{env.get('cpu', '?')}, {env.get('cpus_usable') or env.get('cpu_count', '?')} cores, torch threads "
            f"{env.get('torch_threads', '?')}, GPU {', '.join(env['gpu']) if env.get('gpu') else 'none'}")


def _comparison_note(report: Mapping) -> str:
    """When and where the old report was measured, with a warning when the machines differ."""
    comparison, env = report['comparison'], report.get('environment') or {}
    old_env = comparison.get('old_environment') or {}
    note = f"Old report: {comparison.get('old_date')}, on {_machine(old_env)}; this one on {_machine(env)}."
    if old_env and _machine(old_env) != _machine(env):
        note += ' The machines differ: the speed changes are not the models\' alone.'
    return note + ' Changes are new minus old.'


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace('|', '\\|')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(cell(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def render_markdown(report: Mapping) -> str:
    """``report.md``: the sections of :func:`render_html` with images linked relatively."""
    titles = _sections(report)
    models = report['models']
    settings = report.get('settings', {})
    out = [f"# {report.get('title', 'Detector benchmark')}", '',
           f"{len(models)} model(s), {report['environment'].get('date')}, device {settings.get('device', 'cpu')}.", '',
           f"## {titles['results']}", '', _md_table(RESULT_COLUMNS, result_rows(models)), '']
    if report.get('failures'):
        out += [f"## {titles['failures']}", '']
        out += [f"- `{f['config']}`: {f['error'].splitlines()[0]}" for f in report['failures']] + ['']
    if report.get('comparison'):
        out += [f"## {titles['comparison']}", '', _comparison_note(report), '',
                _md_table(DELTA_COLUMNS, delta_rows(report['comparison']['rows'])), '']
    plots = report.get('plots', {})
    out += [f"## {titles['speed']}", '', f"![speed vs mAP]({plots.get('speed_vs_map')})", '',
            f"## {titles['per_class']}", '', f"![per-class AP]({plots.get('per_class_ap')})", '']
    classes = _class_table(models)
    if classes:
        out += [_md_table(*classes), '']
    out += [f"## {titles['curves']}", '']
    for m in models:
        out += [f"### {m['name']}", '',
                f"![curves of {m['name']}]({m['curves_png']})" if m.get('curves_png') else m.get('curves_note', ''), '']
    out += [f"## {titles['predictions']}", '', 'Ground truth left, predictions right.', '']
    for m in models:
        out += [f"### {m['name']}", ''] + [f"![{Path(p).name}]({p})" for p in m.get('predictions', [])] + ['']
    out += [f"## {titles['method']}", ''] + [f'- {line.format(**_method_args(report))}' for line in METHOD] + ['']
    out += [f"## {titles['environment']}", '', _md_table(('item', 'value'), _env_rows(report['environment'])), '']
    return '\n'.join(out)


def _method_args(report: Mapping) -> dict[str, Any]:
    settings = report.get('settings', {})
    return {'device': settings.get('device', 'cpu'),
            **{'warmup': 3, 'repeats': 20, 'train_warmup': 2, 'train_steps': 5, **settings.get('speed', {})}}


def _class_table(models: Sequence[Mapping]) -> tuple[list[str], list[list[str]]] | None:
    rows = []
    for m in models:
        for c, v in (m.get('per_class_AP50') or {}).items():
            rows.append([m['name'], c, _fmt(v), _fmt((m.get('per_class_AP50:95') or {}).get(c))])
    return (['model', 'class', 'AP50', 'AP50:95'], rows) if rows else None


def _img(report_dir: Path, rel: str | None, alt: str) -> str:
    """An <img> with the file embedded as base64 (the HTML stands alone), or a note when missing."""
    if not rel or not (report_dir / rel).is_file():
        return f'<p class="note">{html.escape(alt)}: no image</p>'
    mime = 'image/png' if rel.endswith('.png') else 'image/jpeg'
    data = base64.b64encode((report_dir / rel).read_bytes()).decode()
    return f'<img src="data:{mime};base64,{data}" alt="{html.escape(alt)}" title="{html.escape(rel)}">'


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = ''.join(f'<th>{html.escape(str(h))}</th>' for h in header)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(str(c))}</td>' for c in row) + '</tr>' for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


CSS = ('body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;'
       'margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}'
       'th{background:#f2f2f2}img{max-width:100%;margin:4px 0;border:1px solid #eee}.note{color:#777}')


def render_html(report: Mapping, report_dir: str | Path) -> str:
    """``report.html``: one self-contained page (images embedded as base64) with every section."""
    report_dir = Path(report_dir)
    titles = _sections(report)
    models = report['models']
    settings = report.get('settings', {})
    title = html.escape(report.get('title', 'Detector benchmark'))
    parts = [f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style>'
             f'</head><body><h1>{title}</h1>',
             f"<p>{len(models)} model(s), {html.escape(str(report['environment'].get('date')))}, device "
             f"{html.escape(str(settings.get('device', 'cpu')))}.</p>",
             f"<h2>{titles['results']}</h2>", _html_table(RESULT_COLUMNS, result_rows(models))]
    if report.get('failures'):
        parts += [f"<h2>{titles['failures']}</h2><ul>"]
        parts += [f"<li><code>{html.escape(f['config'])}</code>: <pre>{html.escape(f['error'])}</pre></li>"
                  for f in report['failures']] + ['</ul>']
    if report.get('comparison'):
        parts += [f"<h2>{html.escape(titles['comparison'])}</h2>",
                  f"<p>{html.escape(_comparison_note(report))}</p>",
                  _html_table(DELTA_COLUMNS, delta_rows(report['comparison']['rows']))]
    plots = report.get('plots', {})
    parts += [f"<h2>{titles['speed']}</h2>", _img(report_dir, plots.get('speed_vs_map'), 'speed vs mAP'),
              f"<h2>{titles['per_class']}</h2>", _img(report_dir, plots.get('per_class_ap'), 'per-class AP')]
    classes = _class_table(models)
    if classes:
        parts.append(_html_table(*classes))
    parts.append(f"<h2>{titles['curves']}</h2>")
    for m in models:
        parts += [f"<h3>{html.escape(m['name'])}</h3>",
                  _img(report_dir, m.get('curves_png'), m.get('curves_note') or f"curves of {m['name']}")]
    parts.append(f"<h2>{titles['predictions']}</h2><p>Ground truth left, predictions right.</p>")
    for m in models:
        parts.append(f"<h3>{html.escape(m['name'])}</h3>")
        parts += [_img(report_dir, p, Path(p).name) for p in m.get('predictions', [])]
    parts += [f"<h2>{titles['method']}</h2><ul>"]
    parts += [f'<li>{html.escape(line.format(**_method_args(report)))}</li>' for line in METHOD] + ['</ul>']
    parts += [f"<h2>{titles['environment']}</h2>", _html_table(('item', 'value'), _env_rows(report['environment'])),
              '</body></html>']
    return '\n'.join(parts)


def write_report(report: dict[str, Any], report_dir: str | Path, old: Mapping | None = None,
                 old_path: str | None = None) -> dict[str, Path]:
    """Draw the plots and write ``report.json``, ``report.md`` and ``report.html`` into ``report_dir``.

    ``report`` holds ``title``, ``environment``, ``settings``, ``models`` (rows as made by
    :func:`benchmark_one`) and ``failures``; ``plots`` and, with ``old`` (an earlier
    ``report.json``), ``comparison`` are added. Returns the written files by kind.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    report['plots'] = {'speed_vs_map': 'speed_vs_map.png', 'per_class_ap': 'per_class_ap.png'}
    plot_speed_vs_map(report['models'], report_dir / report['plots']['speed_vs_map'])
    plot_per_class_ap(report['models'], report_dir / report['plots']['per_class_ap'])
    if old is not None:
        report['comparison'] = {'against': old_path or 'old report',
                                'old_date': (old.get('environment') or {}).get('date'),
                                'old_environment': old.get('environment') or {},
                                'rows': compare_reports(report, old)}
    paths = {'json': report_dir / 'report.json', 'md': report_dir / 'report.md', 'html': report_dir / 'report.html'}
    paths['json'].write_text(json.dumps(report, indent=2))
    paths['md'].write_text(render_markdown(report))
    paths['html'].write_text(render_html(report, report_dir))
    return paths
