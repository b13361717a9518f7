"""Draw a split's ground-truth boxes, or the same images before and after the train pipeline.

    python tools/analysis_tools/browse_dataset.py CONFIG [--split train|val|test] [--output-dir DIR] [--n N]
        [--augment [--draws 7]] [--seed S] [--cfg-options ...]

Without --augment: N images of the split (the first ones, or a random choice with --seed)
with their boxes in the dataset palette, one JPEG each plus overview.png (needs no torch).
With --augment: per image one grid PNG, the original with its boxes and then --draws runs of
the config's train pipeline (mosaic, mixup, crops, colour... as training sees them).
Default output: work_dirs/browse/<config name>/<split>[_augment]/.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from custom.engine.config import dataset_info, read_config
from custom.evaluation.results_io import ResultsError
from custom.visualization.browse import augment_examples, draw_ground_truth


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw ground truth, or train-pipeline augmentations, of a split')
    parser.add_argument('config')
    parser.add_argument('--split', choices=('train', 'val', 'test'), default='train')
    parser.add_argument('--output-dir', help='default: work_dirs/browse/<config name>/<split>[_augment]')
    parser.add_argument('--n', type=int, default=None,
                        help='images to draw (default 16; 4 with --augment; -1: all)')
    parser.add_argument('--augment', action='store_true',
                        help='show each image before and after the train pipeline (several random draws)')
    parser.add_argument('--draws', type=int, default=7, help='--augment: pipeline runs per image (default 7)')
    parser.add_argument('--seed', type=int, default=None,
                        help='random choice of images (ground truth) / random state of the pipeline (--augment, '
                        'default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = read_config(args.config, args.cfg_options, import_custom_modules=args.augment)
    except FileNotFoundError as exc:
        sys.exit(f'error: {exc}')
    name = osp.splitext(osp.basename(args.config))[0]
    out = args.output_dir or osp.join('work_dirs', 'browse', name, args.split + ('_augment' if args.augment else ''))
    try:
        if args.augment:
            written = augment_examples(cfg, args.split, out, n=4 if args.n is None else args.n, draws=args.draws,
                                       seed=0 if args.seed is None else args.seed)
        else:
            info = dataset_info(cfg, args.split)
            written = draw_ground_truth(info['ann_file'], info['img_root'], out, info['classes'], info['palette'],
                                        n=16 if args.n is None else args.n, seed=args.seed)
    except (ResultsError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    print(f'{len(written)} pictures in {out}')


if __name__ == '__main__':
    main()
