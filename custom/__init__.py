"""voc-detkit: Pascal-VOC folders to trained MMDetection detectors.

Importing ``custom`` is light (no torch). Configs load the registered
MMDetection modules with ``custom_imports = dict(imports=['custom.modules'])``.
"""
__version__ = '0.1.0'
