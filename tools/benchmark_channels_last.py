"""CPU speed of each CPU config with mmdet's NCHW batches vs channels-last (NHWC), side by side.

    python tools/benchmark_channels_last.py [--configs configs/bccd/*cpu*.py] [--rounds 3]

The YOLOv3 and SSDLite CPU recipes use ``ChannelsLastDetDataPreprocessor``
(custom/models/data_preprocessor.py); ``channels_last=False`` turns it into mmdet's plain
``DetDataPreprocessor``, and a config with the plain one is measured through it. For each config
this measures both settings in alternating rounds, with custom/report.py's own timers:
training images/s of ``model.train_step`` at the config's batch (data prepared beforehand)
and inference ms/image of ``model.test_step`` at batch 1. It prints the medians over rounds
and the speed-up (NHWC over NCHW). Real batches come from the config's converted data
(for BCCD: ``python tools/dataset_converters/voc2coco.py ../shared/datasets/bccd --out-dir data/bccd``).
"""
import argparse
import copy
import glob
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


LAYOUT_AWARE = ('ChannelsLastDetDataPreprocessor', 'DetDataPreprocessor')  # the second is measured as the first


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', default=sorted(glob.glob(str(REPO / 'configs/bccd/*cpu*_bccd.py'))),
                        help='configs to measure (default: the BCCD CPU configs)')
    parser.add_argument('--rounds', type=int, default=3, help='alternating rounds of both settings')
    parser.add_argument('--steps', type=int, default=4, help='timed training steps a round')
    parser.add_argument('--repeats', type=int, default=20, help='timed inference calls a round')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.config import Config
    import custom.modules  # noqa: F401  (registers the preprocessor for configs that do not import it)
    from custom.report import measure_inference, measure_training, quiet

    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.rounds} rounds')
    print('| config | train img/s NCHW | train img/s NHWC | speed-up | ms/img NCHW | ms/img NHWC | speed-up |')
    print('|---|---|---|---|---|---|---|')
    for path in args.configs:
        base = Config.fromfile(path)
        if base.model.data_preprocessor.get('type') not in LAYOUT_AWARE:
            print(f'| {Path(path).stem} | skipped: data_preprocessor {base.model.data_preprocessor.get("type")} '
                  f'is not one of {", ".join(LAYOUT_AWARE)} |')
            continue
        base.model.data_preprocessor.type = 'ChannelsLastDetDataPreprocessor'
        results = {False: ([], []), True: ([], [])}
        for round_ in range(args.rounds):
            for flag in ((False, True) if round_ % 2 == 0 else (True, False)):
                cfg = copy.deepcopy(base)
                cfg.model.data_preprocessor.channels_last = flag
                with quiet():
                    train = measure_training(cfg, warmup=2, steps=args.steps)
                    infer = measure_inference(cfg, None, warmup=3, repeats=args.repeats)
                results[flag][0].append(train['train_img_per_s'])
                results[flag][1].append(infer['ms_per_img'])
        (tr0, ms0), (tr1, ms1) = ([statistics.median(v) for v in results[f]] for f in (False, True))
        print(f'| {Path(path).stem} | {tr0:.2f} | {tr1:.2f} | {tr1 / tr0:.2f}x | {ms0:.1f} | {ms1:.1f} | '
              f'{ms0 / ms1:.2f}x |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
