"""Evaluating detections: a vectorised COCOeval with pycocotools' numbers, per-detection verdicts, COCO
and VOC metrics, best-F1 operating points, the confusion matrix, and the outputs of one evaluation run.

Nothing here imports torch or mmdet; matplotlib only when a plot is drawn.
"""
