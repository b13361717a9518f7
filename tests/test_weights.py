"""Pretrained weights (custom.engine.weights, PretrainedHeadHook, tools/train.py --weights): all offline.

The network is never used: a seeded TORCH_HOME cache, DETKIT_OFFLINE=1, and a loopback HTTP
server on 127.0.0.1 that stops with its test.
"""
from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from conftest import REPO, SAMPLE, run_tool
from loopback import LoopbackServer, Reply
from custom.engine.weights import (WeightsUnavailableError, cache_path, ensure_weights, resolve_url,
                                   select_weights, weight_sources)

RTMDET_FT = 'configs/bccd/rtmdet_tiny-finetune_cpu-320_1xb8-20e_bccd.py'
RTMDET_COCO = ('https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_tiny_8xb32-300e_coco/'
               'rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth')
RETINANET = 'configs/bccd/retinanet_r50_fpn_1xb8-24e_bccd.py'
RETINANET_COCO = ('https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r50_fpn_1x_coco/'
                  'retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth')
# RTMDet-tiny's class-dependent layers: one 1x1 classifier per FPN level
RTMDET_CLS = [f'bbox_head.rtm_cls.{i}.{p}' for i in range(3) for p in ('weight', 'bias')]
STEM = 'backbone.stem.0.conv.weight'


def _cfg(path: str) -> Config:
    from custom.engine.config import read_config
    return read_config(str(REPO / path))


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    monkeypatch.delenv('XDG_CACHE_HOME', raising=False)
    return home


def test_cache_path_is_where_mmengine_reads_urls(torch_home):
    assert cache_path(RTMDET_COCO) == (
        torch_home / 'hub/checkpoints/rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth')


def test_checkpoint_names_resolve_to_urls():
    assert resolve_url('open-mmlab://mmdet/mobilenet_v2') == (
        'https://download.openmmlab.com/mmdetection/v2.0/third_party/mobilenet_v2_batch256_imagenet-ff34753d.pth')
    assert resolve_url('torchvision://resnet50') == 'https://download.pytorch.org/models/resnet50-0676ba61.pth'
    assert resolve_url(RTMDET_COCO) == RTMDET_COCO
    assert resolve_url('work_dirs/x/epoch_3.pth') is None


def test_weights_choice_config_none_and_file():
    cfg = _cfg(RETINANET)  # mmdet's RetinaNet: COCO load_from and an ImageNet backbone init
    assert [(s.key, s.url) for s in weight_sources(cfg)] == [
        ('load_from', RETINANET_COCO),
        ('model.backbone.init_cfg', 'https://download.pytorch.org/models/resnet50-0676ba61.pth')]
    select_weights(cfg, 'config')  # the detector's weights replace the backbone's: one file, not two
    assert [(s.key, s.url) for s in weight_sources(cfg)] == [('load_from', RETINANET_COCO)]
    assert cfg.model.backbone.init_cfg is None

    cfg = _cfg(RETINANET)
    select_weights(cfg, 'none')
    assert cfg.load_from is None and weight_sources(cfg) == []

    cfg = _cfg(RETINANET)
    select_weights(cfg, 'my/bccd.pth')
    assert [(s.key, s.uri, s.url, str(s.path)) for s in weight_sources(cfg)] == [
        ('load_from', 'my/bccd.pth', None, 'my/bccd.pth')]


def test_every_non_scratch_config_starts_from_a_coco_detector():
    configs = sorted(p for p in (REPO / 'configs').glob('*/*.py'))
    pretrained = [p.name for p in configs if _cfg(str(p.relative_to(REPO))).get('load_from')]
    assert pretrained == [p.name for p in configs if 'scratch' not in p.name]
    assert {p.name for p in configs if 'finetune' in p.name} == {
        f'{model}_{ds}.py' for ds in ('bccd', 'face_mask') for model in (
            'rtmdet_tiny-finetune_cpu-320_1xb8-20e', 'ssdlite_mobilenetv2-finetune_cpu-1xb8-20e',
            'yolov3_mobilenetv2-finetune_cpu-320_1xb8-12e')} | {'rtmdet_tiny-finetune_cpu-320_1xb4-20e_bccd-sample.py'}


def test_offline_without_cache_stops_naming_url_cache_path_and_switches(torch_home, monkeypatch):
    monkeypatch.setenv('DETKIT_OFFLINE', '1')
    cfg = _cfg(RTMDET_FT)
    with pytest.raises(WeightsUnavailableError) as err:
        ensure_weights(cfg, RTMDET_FT)
    message = str(err.value)
    assert RTMDET_COCO in message
    assert f'put it at {torch_home}/hub/checkpoints/rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth' in message
    assert '--weights none' in message and '--weights PATH.pth' in message
    assert cfg.load_from == RTMDET_COCO  # the config is left as it was
    assert not (torch_home / 'hub/checkpoints').exists() or not any((torch_home / 'hub/checkpoints').iterdir())


def test_a_missing_local_file_is_named(tmp_path):
    cfg = _cfg(RTMDET_FT)
    select_weights(cfg, str(tmp_path / 'nope.pth'))
    with pytest.raises(WeightsUnavailableError, match=f'load_from: {tmp_path}/nope.pth \\(no such file\\)'):
        ensure_weights(cfg, RTMDET_FT)


def _file_server(files: dict[str, bytes]) -> LoopbackServer:
    """A loopback server answering ``files`` (path -> bytes), 404 for any other path."""
    return LoopbackServer(lambda r: Reply(200, files[r.path]) if r.path in files else Reply(404))


def test_download_once_into_the_cache_and_point_the_config_at_it(torch_home, monkeypatch):
    monkeypatch.delenv('DETKIT_OFFLINE', raising=False)
    payload = b'synthetic checkpoint bytes' * 100
    with _file_server({'/weights/coco_det.pth': payload}) as server:
        cfg = _cfg(RTMDET_FT)
        select_weights(cfg, f'{server.url}/weights/coco_det.pth')
        ensure_weights(cfg, RTMDET_FT)
        cached = torch_home / 'hub/checkpoints/coco_det.pth'
        assert cached.read_bytes() == payload
        assert cfg.load_from == str(cached)
        cfg = _cfg(RTMDET_FT)
        select_weights(cfg, f'{server.url}/weights/coco_det.pth')
        ensure_weights(cfg, RTMDET_FT)  # cached: no second request
        assert server.paths() == ['/weights/coco_det.pth']


def test_a_failed_download_leaves_no_partial_file(torch_home, monkeypatch):
    monkeypatch.delenv('DETKIT_OFFLINE', raising=False)
    with socket.socket() as s:  # a port nothing listens on: connection refused at once
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    cfg = _cfg(RTMDET_FT)
    select_weights(cfg, f'http://127.0.0.1:{port}/w/coco.pth')
    with pytest.raises(WeightsUnavailableError, match='download failed') as err:
        ensure_weights(cfg, RTMDET_FT)
    assert f'put it at {torch_home}/hub/checkpoints/coco.pth' in str(err.value)
    with _file_server({}) as server:  # a 404 is a failure too
        cfg = _cfg(RTMDET_FT)
        select_weights(cfg, f'{server.url}/w/gone.pth')
        with pytest.raises(WeightsUnavailableError, match='download failed: HTTP Error 404'):
            ensure_weights(cfg, RTMDET_FT)
    checkpoints = torch_home / 'hub/checkpoints'
    assert not checkpoints.exists() or list(checkpoints.iterdir()) == []


def _coco_checkpoint(path: Path, config: str = RTMDET_FT) -> dict:
    """A checkpoint of ``config``'s architecture with COCO's 80-class head, the stem filled with 0.0123."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = _cfg(config)
    cfg.model.bbox_head.num_classes = 80
    state = MODELS.build(cfg.model).state_dict()
    state[STEM] = torch.full_like(state[STEM], 0.0123)
    checkpoint = {'meta': {'dataset_meta': {'classes': tuple(f'c{i}' for i in range(80))}}, 'state_dict': state}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return checkpoint


def _keys(prefix: str, indices=range(3)) -> list[str]:
    return [f'{prefix.format(i)}.{p}' for i in indices for p in ('weight', 'bias')]


# the layers whose shape depends on the number of classes, per model family (written from mmdet's heads)
CLASS_LAYERS = {
    'configs/bccd/yolov3_mobilenetv2-finetune_cpu-320_1xb8-12e_bccd.py': _keys('bbox_head.convs_pred.{}'),
    'configs/bccd/yolov3_d53_1xb8-ms-608-100e_bccd.py': _keys('bbox_head.convs_pred.{}'),
    'configs/bccd/ssdlite_mobilenetv2-finetune_cpu-1xb8-20e_bccd.py': _keys('bbox_head.cls_convs.{}.1', range(6)),
    'configs/bccd/ssd300_1xb8-60e_bccd.py': _keys('bbox_head.cls_convs.{}.0', range(6)),
    'configs/face_mask/retinanet_r50_fpn_1xb8-24e_face_mask.py': ['bbox_head.retina_cls.weight',
                                                                  'bbox_head.retina_cls.bias'],
    RTMDET_FT: RTMDET_CLS,
}


class _Records(logging.Handler):
    """The messages logged while attached."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize('config', sorted(CLASS_LAYERS), ids=lambda c: Path(c).name)
def test_every_family_re_initialises_exactly_its_class_layers(config):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.logging import MMLogger

    from custom.engine.hooks import PretrainedHeadHook
    register_all_modules()
    cfg = _cfg(config)
    select_weights(cfg, 'none')  # no ImageNet download for the backbone
    model = MODELS.build(cfg.model)
    coco_cfg = cfg.model.copy()
    coco_cfg.bbox_head.num_classes = 80
    checkpoint = {'state_dict': MODELS.build(coco_cfg).state_dict()}

    class Runner:
        pass
    runner = Runner()
    runner.model = model
    handler = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        PretrainedHeadHook().after_load_checkpoint(runner, checkpoint)
    finally:
        logger.removeHandler(handler)
    total = len(model.state_dict())
    assert handler.messages == [f'pretrained weights: {total - len(CLASS_LAYERS[config])} of {total} tensors loaded; '
                        f're-initialised for this dataset: {", ".join(CLASS_LAYERS[config])}']


def test_head_hook_keeps_the_fresh_head_and_loads_everything_else(tmp_path):
    from mmdet.registry import MODELS
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    from custom.engine.hooks import PretrainedHeadHook
    coco = _coco_checkpoint(tmp_path / 'coco.pth')
    model = MODELS.build(_cfg(RTMDET_FT).model)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    checkpoint = {'meta': coco['meta'], 'state_dict': dict(coco['state_dict'])}

    class Runner:
        pass
    runner = Runner()
    runner.model = model
    PretrainedHeadHook().after_load_checkpoint(runner, checkpoint)
    _load_checkpoint_to_model(model, checkpoint, strict=True)  # strict: no mismatch left
    loaded = model.state_dict()
    assert loaded[STEM].eq(0.0123).all()
    for key in RTMDET_CLS:
        assert loaded[key].equal(fresh[key])
        assert loaded[key].shape[0] == 3  # this dataset's classes
    changed = {k for k in coco['state_dict'] if not loaded[k].equal(fresh[k])}
    assert changed and not changed & set(RTMDET_CLS)


@pytest.mark.slow
def test_train_cli_offline_stops_before_training_then_fine_tunes_from_a_seeded_cache(tmp_path):
    from custom.datasets.coco_writer import write_coco_splits
    write_coco_splits(SAMPLE, tmp_path / 'bccd_sample')
    env = {'BCCD_ROOT': f'{tmp_path}/bccd_sample/', 'TORCH_HOME': str(tmp_path / 'th'), 'DETKIT_OFFLINE': '1'}
    work = tmp_path / 'work'
    args = ['tools/train.py', RTMDET_FT, '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=4']
    result = run_tool(*args, env=env)
    assert result.returncode == 1
    assert f'error: {RTMDET_FT}: the pretrained weights this config starts from are not on this machine' \
        in result.stderr
    assert RTMDET_COCO in result.stderr and '--weights none' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not list(work.glob('*.pth'))

    cached = tmp_path / 'th/hub/checkpoints/rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth'
    _coco_checkpoint(cached)
    result = run_tool(*args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert f'weights: load_from = {cached} ({RTMDET_COCO})' in log
    assert ('re-initialised for this dataset (checkpoint trained on 80 classes): '
            + ', '.join(RTMDET_CLS)) in log
    assert 'size mismatch' not in log
    trained = torch.load(work / 'epoch_1.pth', map_location='cpu', weights_only=False)['state_dict']
    assert (trained[STEM] - 0.0123).abs().max() < 1e-3  # a few warm-up steps from the seeded weights


def test_download_weights_check_is_the_demo_switch(tmp_path):
    # make demo fine-tunes when this exits 0 and trains from scratch otherwise
    demo = 'configs/bccd/rtmdet_tiny-finetune_cpu-320_1xb4-20e_bccd-sample.py'
    env = {'TORCH_HOME': str(tmp_path / 'th'), 'DETKIT_OFFLINE': '1'}
    scratch = 'configs/bccd/yolov3_mobilenetv2-scratch_cpu-320_1xb8-60e_bccd.py'
    result = run_tool('tools/misc/download_weights.py', demo, scratch, env=env)
    assert result.returncode == 1
    assert f'missing: {demo}: the pretrained weights this config starts from are not on this machine' in result.stderr
    assert RTMDET_COCO in result.stderr
    assert f'ready: {scratch}: trains from scratch, no pretrained file' in result.stdout
    cached = tmp_path / 'th/hub/checkpoints/rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth'
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b'x')  # only its presence is checked here
    result = run_tool('tools/misc/download_weights.py', '--check', demo, env={'TORCH_HOME': str(tmp_path / 'th')})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'ready: {demo}: load_from = {cached} ({RTMDET_COCO})\n'
