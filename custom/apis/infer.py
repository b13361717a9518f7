"""Run a detector on images, folders, globs and videos (``tools/infer.py``).

    python tools/infer.py CONFIG CHECKPOINT INPUT... --out-dir OUT [--score-thr 0.3] [--batch-size 1]
        [--device cpu|cuda] [--video-stride N] [--save-voc] [--cfg-options KEY=VALUE ...]
        [--backend pytorch|onnxruntime --onnx FILE]

Writes ``OUT/vis/`` (boxes drawn), ``OUT/predictions.json`` (COCO-style, see
:mod:`custom.inference.predictions`), ``OUT/predictions.csv``, ``OUT/skipped.txt`` and with
``--save-voc`` ``OUT/voc/`` (Pascal-VOC pre-annotations, see :mod:`custom.inference.voc_export`).
Exit status: 0 when the run finished (files that could not be read are skipped and listed), 2 when
it could not start (the message names the file or option).
"""
from __future__ import annotations

import argparse
import pickle
import sys

from custom.engine.config import parse_cfg_options
from custom.inference.errors import SetupError

EXIT_SETUP = 2


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``tools/infer.py``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='image, folder (recursive), quoted glob such as "data/**/*.jpg", or video '
                        '(images: jpg jpeg png bmp webp; videos: mp4 avi mov)')
    parser.add_argument('--out-dir', required=True, help='folder for vis/, predictions.json/.csv, skipped.txt, voc/')
    parser.add_argument('--score-thr', type=float, default=0.3, help='keep boxes scoring at least this (default 0.3)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass (default 1)')
    parser.add_argument('--device', default='cpu', help='cpu (default), cuda or cuda:N')
    parser.add_argument('--video-stride', type=int, default=1, metavar='N',
                        help='predict every N-th video frame (0, N, 2N, ...); the annotated video keeps every frame, '
                        'showing the boxes of the last predicted one (default 1)')
    parser.add_argument('--save-voc', action='store_true',
                        help='also write OUT/voc/ (Annotations/ + JPEGImages/) to correct in labelImg or CVAT and '
                        'convert back with tools/dataset_converters/voc2coco.py')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys (mmengine DictAction syntax), '
                        'e.g. model.test_cfg.nms.iou_threshold=0.5')
    parser.add_argument('--backend', choices=('pytorch', 'onnxruntime'), default='pytorch',
                        help='pytorch (default) or onnxruntime: run --onnx FILE (tools/deployment/export_onnx.py) on '
                        'CPU; CONFIG is checked against the file, CHECKPOINT is not read')
    parser.add_argument('--onnx', metavar='FILE', help='the exported ONNX file for --backend onnxruntime')
    return parser


def onnx_detector(args: argparse.Namespace):
    """The onnxruntime detector ``args`` ask for, or None for the PyTorch backend; :class:`SetupError` for
    options that do not go together."""
    if args.backend == 'pytorch':
        if args.onnx:
            raise SetupError(f'--onnx {args.onnx} needs --backend onnxruntime')
        return None
    if not args.onnx:
        raise SetupError('--backend onnxruntime needs --onnx FILE (tools/deployment/export_onnx.py writes one)')
    if args.device != 'cpu':
        raise SetupError(f'--device {args.device}: --backend onnxruntime runs on cpu here')
    from custom.deployment.runtime import load_onnx_detector
    return load_onnx_detector(args.onnx, args.score_thr, args.config, parse_cfg_options(args.cfg_options))


def infer(args: argparse.Namespace) -> int:
    """Run inference as ``args`` (from :func:`build_parser`) say, print the report; returns the exit status."""
    from custom.engine.checkpoint_files import CheckpointError
    from custom.inference.run import run_inference
    try:
        detector = onnx_detector(args)
        summary = run_inference(args.config, args.onnx or args.checkpoint, args.inputs, args.out_dir,
                                score_thr=args.score_thr, batch_size=args.batch_size, device=args.device,
                                video_stride=args.video_stride, save_voc=args.save_voc,
                                cfg_options=parse_cfg_options(args.cfg_options), detector=detector)
    except (SetupError, FileNotFoundError, CheckpointError, pickle.UnpicklingError) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_SETUP
    print('\n'.join(summary.lines(args.out_dir)))
    return 0


if __name__ == '__main__':
    sys.exit(infer(build_parser().parse_args()))
