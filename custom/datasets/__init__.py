"""Pascal-VOC folders to COCO JSON: parsing, image lookup, splits, conversion, writing, statistics;
and the training-time data transform :mod:`custom.datasets.copy_paste` (registered by ``custom.modules``).

The conversion path imports no torch, mmdet or matplotlib (checked by tests/test_imports.py),
so it runs fast and on machines without the training stack; only ``copy_paste`` imports mmdet.
"""
