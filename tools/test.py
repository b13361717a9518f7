"""Evaluate a checkpoint on the test split: every metric, plots and pictures into WORK_DIR.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir show] [--out results.pkl]
        [--score-thr T] [--evaluator fast|pycocotools] [--num-ranked 8] [--num-pred-images 100]
        [--no-pictures]

Inference runs once (mmdet's Runner); every metric, plot and picture is computed from the saved
WORK_DIR/detections.bbox.json (re-plot without inference: tools/analysis_tools/analyze_results.py).
The work is done by :mod:`custom.apis.test`.
"""
from custom.apis.test import build_parser, test


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def main(argv=None):
    test(parse_args(argv))


if __name__ == '__main__':
    main()
