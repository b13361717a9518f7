"""Evaluating detections: a vectorised COCOeval with pycocotools' numbers, per-detection verdicts, COCO
and VOC metrics, best-F1 operating points, the confusion matrix, the outputs of one evaluation run, and
ensembles of result files (weighted boxes fusion).

Nothing here imports torch or mmdet at import (fusion imports mmdet's function when it fuses); matplotlib
only when a plot is drawn.
"""
