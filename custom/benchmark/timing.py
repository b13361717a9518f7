"""Speed and size of a detector config, measured in this process: inference, training, params, FLOPs.

torch, mmengine and mmdet are imported inside the functions that use them.
"""
from __future__ import annotations

import contextlib
import copy
import os
import statistics
import time
import warnings
from typing import Any, Callable, Iterator

from custom.benchmark import BenchmarkError

SPEED_DEFAULTS = {'warmup': 3, 'repeats': 20, 'train_warmup': 2, 'train_steps': 5}  # calls / steps


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


def _init_scope(cfg: Any) -> None:
    """Register mmdet's modules (default scope) and the config's ``custom_imports``."""
    from mmdet.utils import register_all_modules
    from mmengine.utils import import_modules_from_strings
    register_all_modules(init_default_scope=True)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)


def build_model(cfg: Any, checkpoint: str | None = None, device: str = 'cpu') -> Any:
    """The config's detector on ``device``, with ``checkpoint``'s weights (loaded safely) when given."""
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint
    _init_scope(cfg)
    model = MODELS.build(cfg.model)
    if checkpoint:
        from custom.engine.checkpoint import register_checkpoint_io
        register_checkpoint_io()  # weights_only-safe loading of mmengine checkpoints
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    return model.to(device)


def build_loader(dataloader_cfg: Any, batch_size: int | None = None, shuffle: bool = False) -> Any:
    """A single-process dataloader of ``dataloader_cfg`` (seed 0), at ``batch_size`` when given."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(dataloader_cfg)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    if batch_size is not None:
        loader_cfg.update(batch_size=batch_size)
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=shuffle)
    return Runner.build_dataloader(loader_cfg, seed=0)


def take_batches(loader: Any, n: int) -> list:
    """``n`` batches from ``loader``, cycling over it when it is shorter; an empty one raises."""
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
    """Wait for the GPU's queued work (nothing on a CPU)."""
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


def measure_inference(cfg: Any, checkpoint: str | None, warmup: int = 3, repeats: int = 20,
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
    batches = take_batches(build_loader(cfg.test_dataloader, batch_size=1), min(repeats, 20))
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


def measure_training(cfg: Any, warmup: int = 2, steps: int = 5, device: str = 'cpu') -> dict[str, Any]:
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
    batches = take_batches(build_loader(cfg.train_dataloader, shuffle=True), warmup + steps)
    hub = MessageHub.get_current_instance()  # batch augments (e.g. random resize) read the iteration

    def step(i: int) -> None:
        hub.update_info('iter', i)
        model.train_step(batches[i], optim_wrapper)

    times = time_calls(step, warmup, steps, device)
    return {'train_img_per_s': batch_size / statistics.median(times), 'batch_size': batch_size,
            'train_step_s_runs': [round(t, 3) for t in times]}
