"""Benchmark detector configs: train (or reuse), evaluate on test, time, and write a report.

    python tools/analysis_tools/benchmark.py --configs A.py B.py --out reports/bench [--epochs N]
    python tools/analysis_tools/benchmark.py --preset cpu-bccd --out reports/cpu-bccd \\
        --train-ann annotations/trainval.json \\
        --work-dir-of configs/bccd/rtmdet_tiny-scratch_cpu-320_1xb8-50e_bccd.py=work_dirs/benchmark_bccd
    python tools/analysis_tools/benchmark.py --preset cpu-bccd --out reports/new --compare reports/old/report.json

Each config trains as tools/train.py does (in a subprocess) into WORK_ROOT/<config name> (a
finished work dir, one holding epoch_<max_epochs>.pth, is reused; an interrupted one is resumed),
is evaluated as tools/test.py does on the test split, and is timed in this process (ms/image at
batch 1, training images/s at the config's batch size, params, FLOPs). OUT gets report.json,
report.md, report.html (self-contained) and the PNGs. Run it again to resume an interrupted benchmark.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from custom.benchmark import BenchmarkError
from custom.benchmark.presets import PRESETS, resolve_configs
from custom.benchmark.runner import run_benchmark


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition('=')
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f'{text!r}: expected CONFIG=WORK_DIR')
    return key, value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+', default=[], metavar='CONFIG', help='config files to benchmark')
    parser.add_argument('--preset', nargs='+', default=[], choices=sorted(PRESETS),
                        help='add a set of configs: cpu-bccd = configs/bccd/*cpu*.py except the -sample one, '
                        'cpu-face-mask = configs/face_mask/*cpu*.py, cpu-all = both (listed when run)')
    parser.add_argument('--out', required=True, help='report folder (report.json/.md/.html and PNGs)')
    parser.add_argument('--work-root', default='work_dirs/benchmark',
                        help='work dirs go to WORK_ROOT/<config name> (default work_dirs/benchmark)')
    parser.add_argument('--work-dir-of', nargs='+', default=[], type=_key_value, metavar='CONFIG=DIR',
                        help='use DIR as the work dir of CONFIG, e.g. a finished run of '
                        'tools/analysis_tools/benchmark_bccd.py')
    parser.add_argument('--epochs', type=int, help='train every config for N epochs, its schedule (LR steps, '
                        'cosine length, no-mosaic stage) compressed to fit (default: the config\'s)')
    parser.add_argument('--train-ann', metavar='[KEY=]ANN',
                        help='training annotation file relative to the data root, e.g. annotations/trainval.json; '
                        'the key is found through dataset wrappers unless given')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='passed to training and evaluation (as to tools/train.py and tools/test.py) and '
                        'used for the timings')
    parser.add_argument('--compare', metavar='OLD.json', help='add a table of changes against an older report.json')
    parser.add_argument('--seed', type=int, default=0, help='training seed (default 0)')
    parser.add_argument('--device', help='device for the timings (default cuda when available, else cpu)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed inference calls (default 3)')
    parser.add_argument('--repeats', type=int, default=20, help='timed inference calls, median kept (default 20)')
    parser.add_argument('--train-warmup', type=int, default=2, help='untimed training steps (default 2)')
    parser.add_argument('--train-steps', type=int, default=5, help='timed training steps, median kept (default 5)')
    parser.add_argument('--pictures', type=int, default=3, help='prediction pictures per model (default 3)')
    parser.add_argument('--show-score-thr', type=float, default=0.3, help='draw predictions scoring at least this')
    parser.add_argument('--title', default='Detector benchmark')
    args = parser.parse_args(argv)
    if not args.configs and not args.preset:
        parser.error('give --configs and/or --preset')
    if args.epochs is not None and args.epochs < 1:
        parser.error('--epochs must be at least 1')
    if args.compare and not Path(args.compare).is_file():
        parser.error(f'--compare {args.compare}: no such file')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        configs = resolve_configs(args.configs, args.preset)
        report = run_benchmark(
            configs, args.out, work_root=args.work_root, work_dir_of=dict(args.work_dir_of), epochs=args.epochs,
            train_ann=args.train_ann, cfg_options=args.cfg_options, compare=args.compare, seed=args.seed,
            speed={'warmup': args.warmup, 'repeats': args.repeats, 'train_warmup': args.train_warmup,
                   'train_steps': args.train_steps},
            device=args.device, pictures=args.pictures, score_thr=args.show_score_thr, title=args.title)
    except BenchmarkError as err:
        sys.exit(f'error: {err}')
    print(f'report: {Path(args.out) / "report.html"} (also report.md, report.json)')
    if report['failures']:
        print(f'{len(report["failures"])} config(s) failed: '
              + ', '.join(f['config'] for f in report['failures']), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
