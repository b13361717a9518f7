"""Pascal-VOC folders to COCO JSON: parsing, image lookup, splits, conversion, writing, statistics.

The conversion path imports no torch, mmdet or matplotlib (checked by tests/test_imports.py),
so it runs fast and on machines without the training stack.
"""
