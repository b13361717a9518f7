"""Export a detector's network (backbone, neck, head raw outputs) to ONNX, with the metadata that runs it.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--cfg-options KEY=VALUE ...]
        [--legacy-exporter] [--opset 18]

Box decoding and NMS run in numpy (custom/deployment/postprocess.py); run the file with
``tools/infer.py CONFIG CHECKPOINT INPUT... --backend onnxruntime --onnx model.onnx``.
Exit status 2 when the export cannot start (the message names the file).
"""
import argparse
import pickle
import sys

from custom.engine.config import parse_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset (default 18)')
    parser.add_argument('--legacy-exporter', action='store_true',
                        help="torch.onnx's deprecated TorchScript exporter (dynamo=False) instead of the default")
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys (mmengine DictAction syntax)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from custom.deployment.export import export_onnx
    from custom.engine.checkpoint import CheckpointError
    from custom.inference.errors import SetupError
    try:
        summary = export_onnx(args.config, args.checkpoint, args.out, parse_cfg_options(args.cfg_options),
                              dynamo=not args.legacy_exporter, opset=args.opset)
    except (SetupError, FileNotFoundError, CheckpointError, pickle.UnpicklingError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    meta = summary.metadata
    print(f'wrote {summary.path} ({len(meta["classes"])} classes, head {meta["model"]["head"]}); '
          f'ONNX vs PyTorch raw outputs on a {summary.example_shape} input: '
          f'max |diff| / max |output| {summary.max_rel_diff:.1e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
