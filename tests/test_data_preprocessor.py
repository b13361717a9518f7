"""ChannelsLastDetDataPreprocessor: same values as mmdet's, NHWC layout on CPU, same detections."""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config

import custom.modules  # noqa: F401
from conftest import SAMPLE, initialised_model, run_tool
from test_configs import CONFIGS

NORM = dict(mean=[0, 0, 0], std=[255, 255, 255], bgr_to_rgb=True, pad_size_divisor=32)


def _batch(sizes=((3, 40, 60), (3, 50, 30))) -> dict:
    torch.manual_seed(0)
    inputs = [torch.randint(0, 256, size, dtype=torch.uint8) for size in sizes]
    samples = [DetDataSample(metainfo=dict(img_shape=s[1:], ori_shape=s[1:])) for s in sizes]
    return dict(inputs=inputs, data_samples=samples)


def _build(**kwargs):
    register_all_modules()
    return MODELS.build(dict(type='ChannelsLastDetDataPreprocessor', **NORM, **kwargs))


def test_values_equal_mmdets_and_layout_is_channels_last_on_cpu():
    stock = MODELS.build(dict(type='DetDataPreprocessor', **NORM))
    ours = _build()
    expected = stock(_batch(), True)['inputs']
    got = ours(_batch(), True)['inputs']
    assert expected.is_contiguous() and not expected.is_contiguous(memory_format=torch.channels_last)
    assert got.is_contiguous(memory_format=torch.channels_last) and not got.is_contiguous()
    assert got.shape == expected.shape == (2, 3, 64, 64)  # padded to a multiple of 32
    assert torch.equal(got, expected)


def test_channels_last_false_keeps_mmdets_layout_and_true_forces_it():
    assert _build(channels_last=False)(_batch())['inputs'].is_contiguous()
    assert _build(channels_last=True)._wanted(torch.zeros(1, 3, 4, 4, device='meta'))  # any device
    assert not _build()._wanted(torch.zeros(1, 3, 4, 4, device='meta'))  # auto: CPU only


def test_yolov3_outputs_are_the_same_in_either_layout():
    model = initialised_model('configs/face_mask/yolov3_mobilenetv2-scratch_cpu-ms-416_1xb8-36e_face_mask.py').eval()
    outputs = {}
    for flag in (False, True):
        model.data_preprocessor.channels_last = flag
        data = model.data_preprocessor(_batch(((3, 288, 416), (3, 260, 400))), False)
        assert data['inputs'].is_contiguous(memory_format=torch.channels_last) == flag
        with torch.no_grad():
            outputs[flag] = [t for level in model(data['inputs'], mode='tensor') for t in level]
    assert len(outputs[True]) == len(outputs[False]) == 3
    for plain, nhwc in zip(outputs[False], outputs[True]):
        assert nhwc.shape == plain.shape
        torch.testing.assert_close(nhwc, plain, rtol=1e-4, atol=1e-4 * float(plain.abs().max()))


def test_rtmdet_loss_is_the_same_for_head_outputs_in_either_layout():
    """The assigner and losses read channels-last head outputs as they read NCHW ones (fp32)."""
    from mmengine.structures import InstanceData
    model = initialised_model('configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py').train()
    with torch.no_grad():
        cls_scores, bbox_preds = model(torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1)),
                                       mode='tensor')
    gts, metas = [], []
    for boxes, labels in (([[10., 12., 60., 70.], [70., 20., 120., 90.]], [0, 2]), ([[30., 30., 50., 56.]], [1])):
        gts.append(InstanceData(bboxes=torch.tensor(boxes), labels=torch.tensor(labels)))
        metas.append(dict(img_shape=(128, 128), pad_shape=(128, 128), batch_input_shape=(128, 128)))
    results = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        cls = [t.clone(memory_format=layout).requires_grad_(True) for t in cls_scores]
        box = [t.clone(memory_format=layout).requires_grad_(True) for t in bbox_preds]
        assert cls[0].is_contiguous(memory_format=layout) and box[0].is_contiguous(memory_format=layout)
        losses = model.bbox_head.loss_by_feat(cls, box, gts, metas)
        total = sum(sum(v) if isinstance(v, list) else v for v in losses.values())
        total.backward()
        results[layout] = (total.detach(), [t.grad for t in cls + box])
    (plain_loss, plain), (nhwc_loss, nhwc) = results[torch.contiguous_format], results[torch.channels_last]
    assert float(plain_loss) > 0
    torch.testing.assert_close(nhwc_loss, plain_loss, rtol=1e-6, atol=0)
    for a, b in zip(plain, nhwc):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6 * float(a.abs().max()))


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'cpu' in p.name], ids=lambda p: Path(p).name)
def test_cpu_configs_feed_the_network_channels_last(path):
    cfg = Config.fromfile(str(path))
    assert cfg.model.data_preprocessor.type == 'ChannelsLastDetDataPreprocessor'
    assert cfg.model.data_preprocessor.get('channels_last') is None  # on CPU only: GPU runs unchanged


@pytest.mark.slow
def test_cpu_speed_benchmark_cli_measures_every_setting(tmp_path):
    from custom.datasets.coco_writer import write_coco_splits
    write_coco_splits(SAMPLE, tmp_path / 'bccd_sample')
    config = 'configs/bccd/ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd.py'
    plain = 'configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample.py'  # mmdet's preprocessor and wrapper
    result = run_tool('tools/analysis_tools/benchmark_cpu_speed.py', '--configs', config, plain,
                      '--rounds', '1', '--steps', '1', '--repeats', '2',
                      env={'BCCD_ROOT': f'{tmp_path}/bccd_sample/'})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split('|')[1].strip(): line for line in result.stdout.splitlines() if line.startswith('| ')}
    for name in ('ssdlite_mobilenetv2-scratch_cpu-1xb8-60e_bccd', 'rtmdet_tiny-scratch_cpu-320_1xb4-40e_bccd-sample'):
        cells = [c.strip() for c in rows[name].split('|')[2:-1]]
        values = [float(v.strip().rstrip('x')) for c in cells for v in c.split('/')]
        assert len(cells) == 7 and len(values) == 8 and all(v > 0 for v in values), rows[name]
