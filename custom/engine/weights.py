"""Pretrained weights of a training run: which file, whether it is here, and the switch to go without.

A config names its weights the way mmdet's do: ``load_from`` (a COCO detector: every config not
named ``scratch``) and/or ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in the model (an
ImageNet backbone). ``tools/train.py --weights`` chooses:

* ``config`` (default): the config's weights. When ``load_from`` is set, ``Pretrained`` inits are
  dropped: the detector's weights replace them anyway, and they would need a second download.
* ``none``: from scratch, every pretrained source removed.
* a file or URL: fine-tune from it instead (``load_from``).

URLs are cached where MMEngine's loader reads them, ``torch.hub.get_dir()/checkpoints/<file name>``
(``$TORCH_HOME/hub/checkpoints``). A missing file is downloaded before training starts unless
``DETKIT_OFFLINE=1``; when it cannot be had, :class:`WeightsUnavailableError` gives the URL, the cache
path to put the file in, and the switches. Only URLs are ever fetched; local paths must exist.
"""
from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

OFFLINE_ENV = 'DETKIT_OFFLINE'  # set to 1: never download, use the cache or stop
DOWNLOAD_TIMEOUT = 30.0         # seconds without data before a download is given up
CONFIG, NONE = 'config', 'none'
URL_SCHEMES = ('http://', 'https://')


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights the run needs are neither on disk nor downloadable now."""


@dataclass(frozen=True)
class WeightSource:
    """One pretrained file a run reads: ``key`` is where the config names it (``load_from`` or
    ``model.backbone.init_cfg``), ``uri`` what it says, ``url`` the download address (None for a
    local file) and ``path`` the local file MMEngine will read."""
    key: str
    uri: str
    url: str | None
    path: Path


def pretrained_inits(node: Any, key: str = 'model') -> Iterator[tuple[str, dict]]:
    """Every ``init_cfg`` of type ``Pretrained`` under a model config, with its dotted key."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        for item in init if isinstance(init, list) else [init]:
            if isinstance(item, dict) and item.get('type') == 'Pretrained':
                yield f'{key}.init_cfg', item
        for name, value in node.items():
            if name != 'init_cfg':
                yield from pretrained_inits(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from pretrained_inits(value, f'{key}[{i}]')


def drop_pretrained_inits(node: Any) -> None:
    """Remove every ``Pretrained`` ``init_cfg`` under ``node`` in place (other inits stay)."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        elif isinstance(init, list):
            node['init_cfg'] = [i for i in init if not (isinstance(i, dict) and i.get('type') == 'Pretrained')] or None
        for name, value in node.items():
            if name != 'init_cfg':
                drop_pretrained_inits(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_pretrained_inits(value)


def cache_path(url: str) -> Path:
    """Where MMEngine's URL loader (torch.hub) keeps ``url``: ``<torch hub dir>/checkpoints/<file name>``."""
    import torch.hub
    return Path(torch.hub.get_dir()) / 'checkpoints' / os.path.basename(urlparse(url).path)


def resolve_url(uri: str) -> str | None:
    """The download URL of a checkpoint name (``https://``, ``open-mmlab://``, ``torchvision://``);
    None for a local path."""
    if uri.startswith(URL_SCHEMES):
        return uri
    if uri.startswith(('open-mmlab://', 'openmmlab://')):
        from mmengine.runner.checkpoint import get_external_models
        return get_external_models()[uri.split('://', 1)[1]]
    if uri.startswith(('torchvision://', 'modelzoo://')):
        name = uri.split('://', 1)[1]
        try:
            from mmengine.runner.checkpoint import get_torchvision_models
            return get_torchvision_models()[name]
        except ImportError:  # no torchvision: MMEngine's own copy of its model URLs
            import json

            import mmengine
            with open(os.path.join(mmengine.__path__[0], 'hub', 'torchvision_0.12.json')) as f:
                return json.load(f)[name]
    return None


def weight_sources(cfg: Any) -> list[WeightSource]:
    """The pretrained files ``cfg`` reads at the start of training (``load_from``, then model inits)."""
    named = [('load_from', cfg.load_from)] if cfg.get('load_from') else []
    named += [(key, init['checkpoint']) for key, init in pretrained_inits(cfg.model) if init.get('checkpoint')]
    sources = []
    for key, uri in named:
        url = resolve_url(str(uri))
        path = cache_path(url) if url else Path(os.path.expanduser(str(uri)))
        sources.append(WeightSource(key, str(uri), url, path))
    return sources


def select_weights(cfg: Any, choice: str = CONFIG) -> None:
    """Apply ``--weights`` to ``cfg`` in place: ``config``, ``none`` or a file/URL to fine-tune from."""
    if choice == NONE:
        cfg.load_from = None
    elif choice != CONFIG:
        cfg.load_from = choice
    if choice == NONE or cfg.get('load_from'):
        drop_pretrained_inits(cfg.model)


def download(url: str, path: Path, timeout: float = DOWNLOAD_TIMEOUT) -> None:
    """Fetch ``url`` into ``path`` (torch.hub's downloader: a temporary file renamed when complete,
    a progress bar on a terminal); any network failure raises ``OSError``."""
    import torch.hub
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torch.hub.download_url_to_file(url, str(path), progress=sys.stderr.isatty())
    finally:
        socket.setdefaulttimeout(previous)


def unavailable_message(config: str, missing: list[tuple[WeightSource, str]]) -> str:
    """The error for pretrained files that cannot be had: each URL, its cache path, then the switches."""
    lines = [f'{config}: the pretrained weights this config starts from are not on this machine:']
    for source, why in missing:
        if source.url:
            lines += [f'  {source.key}: {source.url}', f'    ({why})',
                      f'    download it (on any machine) and put it at {source.path}']
        else:
            lines += [f'  {source.key}: {source.path} ({why})']
    lines += ['Or fine-tune from a local copy: --weights PATH.pth',
              'Or train from scratch (lower accuracy, longer schedules; see the *-scratch_cpu-* configs): '
              '--weights none']
    return '\n'.join(lines)


def ensure_weights(cfg: Any, config: str, allow_download: bool | None = None) -> list[WeightSource]:
    """Make every pretrained file of ``cfg`` local (cached, or downloaded now) and point ``cfg`` at the
    local files, so that training never stops on the network once started.

    ``allow_download`` defaults to ``DETKIT_OFFLINE`` not being set. Raises
    :class:`WeightsUnavailableError` (:func:`unavailable_message`) naming every file that is missing.
    """
    if allow_download is None:
        allow_download = os.environ.get(OFFLINE_ENV, '') in ('', '0')
    sources = weight_sources(cfg)
    missing = []
    for source in sources:
        if source.path.is_file():
            continue
        if source.url is None:
            missing.append((source, 'no such file'))
        elif not allow_download:
            missing.append((source, f'not in the cache, and {OFFLINE_ENV}=1 forbids downloading'))
        else:
            print(f'weights: downloading {source.url} to {source.path}', flush=True)
            try:
                download(source.url, source.path)
            except (OSError, ValueError) as err:  # URLError, timeouts, refused connections, bad responses
                missing.append((source, f'download failed: {err}'))
    if missing:
        raise WeightsUnavailableError(unavailable_message(config, missing))
    localise(cfg, sources)
    return sources


def localise(cfg: Any, sources: list[WeightSource]) -> None:
    """Point ``cfg``'s ``load_from`` and ``Pretrained`` inits at the local files of ``sources``."""
    local = {source.uri: str(source.path) for source in sources}
    if cfg.get('load_from'):
        cfg.load_from = local.get(str(cfg.load_from), cfg.load_from)
    for _, init in pretrained_inits(cfg.model):
        if init.get('checkpoint'):
            init['checkpoint'] = local.get(str(init['checkpoint']), init['checkpoint'])
