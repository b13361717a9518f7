"""CPUBf16OptimWrapper: bf16 autocast in training on CPU only, fp32 weights and optimizer state."""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData

import custom.modules  # noqa: F401
import custom.engine.optim_wrapper as ow
from conftest import REPO
from test_configs import CONFIGS


def _wrapper(model: torch.nn.Module, **kwargs) -> ow.CPUBf16OptimWrapper:
    return build_optim_wrapper(model, dict(type='CPUBf16OptimWrapper', optimizer=dict(type='SGD', lr=0.01), **kwargs))


def _conv_dtype(wrapper, model) -> torch.dtype:
    with wrapper.optim_context(model):
        return model(torch.randn(1, 3, 8, 8)).dtype


def test_training_forward_runs_in_bf16_on_cpu_only_when_enabled():
    model = torch.nn.Conv2d(3, 4, 3)
    assert _conv_dtype(_wrapper(model, enabled=True), model) == torch.bfloat16
    assert _conv_dtype(_wrapper(model, enabled=False), model) == torch.float32
    assert model(torch.randn(1, 3, 8, 8)).dtype == torch.float32  # only inside optim_context


def test_auto_follows_native_bf16_and_models_off_cpu_are_left_alone(monkeypatch):
    for native in (True, False):
        monkeypatch.setattr(ow, 'cpu_has_native_bf16', lambda native=native: native)
        assert _wrapper(torch.nn.Linear(2, 2)).enabled is native
    off_cpu = torch.nn.Linear(2, 2, device='meta')
    assert not _wrapper(off_cpu, enabled=True).autocasts(off_cpu)
    assert _wrapper(torch.nn.Linear(2, 2), enabled=True).autocasts(torch.nn.Linear(2, 2))


def test_native_bf16_check_reads_torch_cpu_and_survives_older_torch(monkeypatch):
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: True, raising=False)
    assert ow.cpu_has_native_bf16()
    monkeypatch.delattr(torch.cpu, '_is_avx512_bf16_supported')
    monkeypatch.delattr(torch.cpu, '_is_amx_tile_supported')
    assert not ow.cpu_has_native_bf16()  # a torch without the checks: fp32, never emulated bf16


def _yolov3_batch() -> dict:
    torch.manual_seed(0)
    samples = []
    for _ in range(2):
        sample = DetDataSample(metainfo=dict(img_shape=(128, 160), ori_shape=(128, 160), pad_shape=(128, 160),
                                             batch_input_shape=(128, 160), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 20., 40., 60.], [80., 30., 120., 90.]]),
                                           labels=torch.tensor([0, 2]))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, 128, 160), dtype=torch.uint8) for _ in range(2)]
    return dict(inputs=inputs, data_samples=samples)


def test_yolov3_trains_in_bf16_with_fp32_weights_and_fp32_like_losses():
    register_all_modules()
    cfg = Config.fromfile(str(REPO / 'configs/face_mask/yolov3_mobilenetv2-scratch_cpu-ms-416_1xb8-36e_face_mask.py'))
    losses = {}
    for enabled in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.train()
        wrapper = build_optim_wrapper(model, dict(cfg.optim_wrapper, type='CPUBf16OptimWrapper', enabled=enabled))
        seen = []
        hook = model.backbone.conv1.conv.register_forward_hook(lambda m, i, o, seen=seen: seen.append(o.dtype))
        losses[enabled] = [float(model.train_step(_yolov3_batch(), wrapper)['loss'].detach()) for _ in range(6)]
        hook.remove()
        assert set(seen) == {torch.bfloat16 if enabled else torch.float32}
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert all(v.dtype == torch.float32 for s in wrapper.optimizer.state.values() for v in s.values()
                   if torch.is_tensor(v) and v.is_floating_point())
    assert losses[True] != losses[False]  # computed in bf16, not silently fp32
    assert losses[True][-1] < losses[True][0] - 3  # six steps on one batch: it learns
    # step by step like fp32. Not compared: single gradients. The head's agree (cosine ~0.9), the
    # first backbone layers' only loosely at random init (cosine ~0.3, after ~50 layers of bf16
    # backward), which whole runs average out (README)
    assert losses[True] == pytest.approx(losses[False], rel=0.02)


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'cpu' in p.name], ids=lambda p: Path(p).name)
def test_yolov3_cpu_configs_train_in_bf16_where_the_cpu_has_it(path):
    cfg = Config.fromfile(str(path))
    if 'yolov3' not in path.name:  # RTMDet and SSDLite stay fp32: not shown harmless in A/B runs (README)
        assert cfg.optim_wrapper.type == 'OptimWrapper'
        return
    assert cfg.optim_wrapper.type == 'CPUBf16OptimWrapper'
    assert cfg.optim_wrapper.get('enabled') is None  # auto: only CPUs with native bf16


def test_amp_flag_picks_fp16_loss_scaling_on_gpu_and_bf16_autocast_on_cpu():
    from custom.engine.launch import use_mixed_precision
    path = str(REPO / 'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py')
    gpu, cpu = Config.fromfile(path), Config.fromfile(path)
    use_mixed_precision(gpu, cuda=True)
    assert gpu.optim_wrapper.type == 'AmpOptimWrapper' and gpu.optim_wrapper.loss_scale == 'dynamic'
    assert 'enabled' not in gpu.optim_wrapper and gpu.optim_wrapper.optimizer.lr == cpu.optim_wrapper.optimizer.lr
    use_mixed_precision(cpu, cuda=False)
    assert cpu.optim_wrapper.type == 'CPUBf16OptimWrapper' and cpu.optim_wrapper.enabled is True
    model = torch.nn.Conv2d(3, 4, 3)
    assert _conv_dtype(build_optim_wrapper(model, cpu.optim_wrapper), model) == torch.bfloat16
