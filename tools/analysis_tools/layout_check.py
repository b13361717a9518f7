"""How far one float32 training step of a config's model is from float64, in NCHW and channels-last.

    python tools/analysis_tools/layout_check.py CONFIG [--img-size 320] [--batch 4] [--seed 0]
        [--top 5] [--cfg-options ...]

The model gets its config's initial weights (from ``--seed``) and ``--batch`` random normal
images; the step is a training-mode forward and the backward of a fixed random linear function
of the head outputs (no assigner or loss). Printed per layout: the largest output error and the
gradients' relative L2 error against the float64 NCHW step, and the parameters whose gradients
differ most. A layout bug moves the outputs by a good part of their size (0.1 and more in the
tests); float32 rounding moves them by a few 1e-3 at most, while gradients may differ more (a
max or a clip that flips between near-equal values). The work is done by
:mod:`custom.benchmark.layout_check`; findings: docs/cpu_training.md.
"""
import argparse
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--img-size', type=int, default=320, help='square input size (default 320)')
    parser.add_argument('--batch', type=int, default=4, help='images in the step (default 4)')
    parser.add_argument('--seed', type=int, default=0, help='initial weights, images and loss weights (default 0)')
    parser.add_argument('--top', type=int, default=5, help='parameters listed per layout (default 5)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from custom.engine.config import read_config
    try:
        cfg = read_config(args.config, args.cfg_options)
    except FileNotFoundError as exc:
        sys.exit(f'error: {exc}')
    if args.img_size < 32 or args.img_size % 32 or args.batch < 1:
        sys.exit(f'error: --img-size {args.img_size} --batch {args.batch}: the size must be a multiple of 32 '
                 '(>= 32) and the batch at least 1')
    import torch
    from custom.benchmark.layout_check import compare_layouts
    from custom.benchmark.timing import build_model, quiet
    torch.manual_seed(args.seed)
    with quiet():
        model = build_model(cfg)
        model.init_weights()
    images = torch.randn(args.batch, 3, args.img_size, args.img_size,
                         generator=torch.Generator().manual_seed(args.seed))
    report = compare_layouts(model, images, seed=args.seed, top=args.top)
    print(f'{args.config}: one training step, {args.batch} x {args.img_size}x{args.img_size}, '
          f'float32 against float64 NCHW (relative errors)')
    for layout, error in report.items():
        print(f'{layout}: outputs {error.forward:.1e}, gradients {error.gradient:.1e}')
        for name, value in error.worst:
            print(f'    {value:.1e}  {name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
