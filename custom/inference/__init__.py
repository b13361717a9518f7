"""Inference on images, folders, globs and videos: boxes drawn, COCO-style JSON, CSV and Pascal-VOC files.

The library of ``tools/infer.py`` (entry point :mod:`custom.apis.infer`), one job a module:

* :mod:`~custom.inference.sources`: the INPUT arguments -> the image and video files, with their names;
* :mod:`~custom.inference.media`: decoding images as the training loader does, reading and writing videos;
* :mod:`~custom.inference.checkpoint_fit` and :mod:`~custom.inference.detector`: a detector from a config and a
  checkpoint that fits it, without a Runner, and its predictions on decoded images;
* :mod:`~custom.inference.predictions`, :mod:`~custom.inference.voc_export`, :mod:`~custom.inference.render`:
  the outputs (``predictions.json``/``.csv``, VOC pre-annotations, pictures and videos);
* :mod:`~custom.inference.run`: the whole run.

Importing the package is light: torch and mmdet are imported by the functions that need them.
"""
