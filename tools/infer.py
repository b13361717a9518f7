"""Run a detector on images, folders, globs and videos; write pictures, COCO-style JSON, CSV and VOC files.

    python tools/infer.py CONFIG CHECKPOINT INPUT... --out-dir OUT [--score-thr 0.3] [--batch-size 1]
        [--device cpu|cuda] [--video-stride N] [--save-voc] [--cfg-options KEY=VALUE ...]

The work is done by :mod:`custom.inference` (entry point :mod:`custom.apis.infer`).
"""
import sys

from custom.apis.infer import build_parser, infer


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def main(argv=None):
    return infer(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
