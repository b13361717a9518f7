"""CPU speed of each CPU config in three settings, side by side: fp32 NCHW (mmdet's), fp32
channels-last (NHWC) and bf16-autocast training on NHWC.

    python tools/analysis_tools/benchmark_cpu_speed.py [--configs configs/bccd/*cpu*.py] [--rounds 3]

The layout is ``ChannelsLastDetDataPreprocessor.channels_last`` (custom/models/data_preprocessor.py;
a config on mmdet's plain ``DetDataPreprocessor`` is measured through it), the precision is
``CPUBf16OptimWrapper.enabled`` (custom/engine/optim_wrapper.py; it only touches training, so
inference is measured in the two layouts). Settings are measured in alternating rounds with
the benchmark's own timers (custom/benchmark/timing.py): training images/s of ``model.train_step``
at the config's batch (data prepared beforehand) and inference ms/image of ``model.test_step`` at
batch 1; the tool prints medians over rounds and speed-ups over fp32 NCHW. Real batches come
from the config's converted data (for BCCD: ``python tools/dataset_converters/voc2coco.py
../shared/datasets/bccd --out-dir data/bccd``). bf16 needs a CPU with AVX512-BF16 or AMX to be
fast; the tool says whether this one has it.
"""
import argparse
import copy
import glob
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LAYOUT_AWARE = ('ChannelsLastDetDataPreprocessor', 'DetDataPreprocessor')  # the second is measured as the first
PRECISION_AWARE = ('CPUBf16OptimWrapper', 'OptimWrapper')  # likewise
SETTINGS = {'fp32 NCHW': (False, False), 'fp32 NHWC': (True, False), 'bf16 NHWC': (True, True)}  # layout, bf16


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', default=sorted(glob.glob(str(REPO / 'configs/bccd/*cpu*_bccd.py'))),
                        help='configs to measure (default: the BCCD CPU configs)')
    parser.add_argument('--rounds', type=int, default=3, help='alternating rounds of all settings')
    parser.add_argument('--steps', type=int, default=4, help='timed training steps a round')
    parser.add_argument('--repeats', type=int, default=20, help='timed inference calls a round')
    return parser.parse_args(argv)


def configured(base, channels_last: bool, bf16: bool):
    """A copy of ``base`` with the given layout and training precision."""
    cfg = copy.deepcopy(base)
    cfg.model.data_preprocessor.type = 'ChannelsLastDetDataPreprocessor'
    cfg.model.data_preprocessor.channels_last = channels_last
    cfg.optim_wrapper.type = 'CPUBf16OptimWrapper'
    cfg.optim_wrapper.enabled = bf16
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    import custom.modules  # noqa: F401  (registers the preprocessor and wrapper for configs that do not import them)
    from custom.benchmark.timing import measure_inference, measure_training, quiet
    from custom.engine.config import read_config
    from custom.engine.optim_wrapper import cpu_has_native_bf16

    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}; '
          f'medians of {args.rounds} rounds')
    names = list(SETTINGS)
    print('| config | ' + ' | '.join(f'train img/s {n}' for n in names) + ' | train speed-up NHWC / bf16 NHWC '
          '| ms/img NCHW | ms/img NHWC | inference speed-up |')
    print('|---' * (len(names) + 5) + '|')
    for path in args.configs:
        base = read_config(path)
        preprocessor, wrapper = base.model.data_preprocessor.get('type'), base.optim_wrapper.get('type', 'OptimWrapper')
        if preprocessor not in LAYOUT_AWARE or wrapper not in PRECISION_AWARE:
            print(f'| {Path(path).stem} | skipped: {preprocessor} / {wrapper} is not one of {", ".join(LAYOUT_AWARE)} '
                  f'/ {", ".join(PRECISION_AWARE)} |')
            continue
        train = {n: [] for n in names}
        infer = {n: [] for n in names[:2]}
        for round_ in range(args.rounds):
            for name in (names if round_ % 2 == 0 else names[::-1]):
                cfg = configured(base, *SETTINGS[name])
                with quiet():
                    train[name].append(measure_training(cfg, warmup=2, steps=args.steps)['train_img_per_s'])
                    if name in infer:
                        infer[name].append(measure_inference(cfg, None, warmup=3, repeats=args.repeats)['ms_per_img'])
        tr = {n: statistics.median(v) for n, v in train.items()}
        ms = {n: statistics.median(v) for n, v in infer.items()}
        ref = tr['fp32 NCHW']
        print(f'| {Path(path).stem} | ' + ' | '.join(f'{tr[n]:.2f}' for n in names)
              + f' | {tr["fp32 NHWC"] / ref:.2f}x / {tr["bf16 NHWC"] / ref:.2f}x'
              + f' | {ms["fp32 NCHW"]:.1f} | {ms["fp32 NHWC"]:.1f} | {ms["fp32 NCHW"] / ms["fp32 NHWC"]:.2f}x |',
              flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
