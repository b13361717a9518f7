"""The machine and software a benchmark's numbers were measured on."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Machine and software the numbers were measured on (CPU model, cores, GPU, versions, date)."""
    import torch
    info: dict[str, Any] = {'date': datetime.now(timezone.utc).isoformat(timespec='seconds')}
    info.update(cpu=cpu_model(), cpu_count=os.cpu_count(),
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
