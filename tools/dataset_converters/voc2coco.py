"""Convert a Pascal-VOC folder to COCO JSON splits for MMDetection.

    python tools/dataset_converters/voc2coco.py VOC_DIR --out-dir data/NAME
"""
import argparse
import sys

from custom.voc import VOCError, write_coco_splits


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('voc_dir', help='folder with Annotations/ (or annotations/, or XML beside the images)')
    parser.add_argument('--out-dir', required=True, help='writes annotations/<split>.json, report.json, images link')
    parser.add_argument('--classes', help='comma-separated class names in category-id order (default: sorted names found)')
    parser.add_argument('--split', help='train,val[,test] fractions when the folder has no ImageSets/Main, e.g. 0.8,0.1,0.1')
    parser.add_argument('--seed', type=int, default=0, help='seed of --split (same input + seed = same files)')
    parser.add_argument('--strict', action='store_true', help='exit non-zero when any problem is reported')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    classes = [c.strip() for c in args.classes.split(',')] if args.classes else None
    split = [float(f) for f in args.split.split(',')] if args.split else None
    try:
        report = write_coco_splits(args.voc_dir, args.out_dir, classes=classes, split=split,
                                   seed=args.seed, progress=True)
    except (VOCError, ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(report.summary())
    print(f'wrote {args.out_dir}/annotations/*.json and {args.out_dir}/report.json')
    return 1 if args.strict and report.problems else 0


if __name__ == '__main__':
    sys.exit(main())
