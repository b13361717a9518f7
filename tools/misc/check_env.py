"""Check that the installed stack is the one the project is built on, and say what is wrong."""
import importlib.metadata as md
import sys


def main() -> int:
    import cv2  # noqa: F401
    import mmcv
    import mmcv.ops  # noqa: F401  (fails on mmcv-lite or a build without ops)
    import mmdet
    import mmengine
    import torch
    from mmengine.utils import is_installed
    if not is_installed('mmdet'):  # what `_base_ = 'mmdet::...'` configs rely on (needs pkg_resources)
        print('error: mmengine cannot see mmdet; reinstall with make install', file=sys.stderr)
        return 1
    owners = [d for d in ('opencv-python', 'opencv-contrib-python', 'opencv-python-headless')
              if _installed(d)]
    if owners != ['opencv-python-headless']:
        print(f'error: cv2 must come from opencv-python-headless alone, found {owners}; '
              f'run: pip uninstall -y {" ".join(owners)} && make install', file=sys.stderr)
        return 1
    print(f'torch {torch.__version__}, mmcv {mmcv.__version__} (ops), mmengine {mmengine.__version__}, '
          f'mmdet {mmdet.__version__}, cv2 from {owners[0]}, CUDA available: {torch.cuda.is_available()}')
    return 0


def _installed(dist: str) -> bool:
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False


if __name__ == '__main__':
    sys.exit(main())
