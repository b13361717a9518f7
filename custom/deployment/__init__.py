"""ONNX export and onnxruntime inference without mmdeploy.

One job a module:

* :mod:`~custom.deployment.metadata`: what an exported file carries besides its graph (classes, preprocessing,
  priors, box coder, ``test_cfg``), written from a config's model and read back and checked;
* :mod:`~custom.deployment.export`: the network's raw outputs (backbone, neck, head) as an ONNX graph;
* :mod:`~custom.deployment.preprocess`: the test pipeline and data preprocessor in numpy;
* :mod:`~custom.deployment.priors`, :mod:`~custom.deployment.nms` and :mod:`~custom.deployment.postprocess`:
  mmdet's ``predict_by_feat`` in numpy (priors, box decoding, score filtering, batched NMS, rescaling);
* :mod:`~custom.deployment.runtime`: an onnxruntime detector that :func:`custom.inference.run.run_inference`
  accepts in place of the PyTorch one;
* :mod:`~custom.deployment.parity` and :mod:`~custom.deployment.dataset_check`: do two backends give the same
  boxes, image by image and over an annotated split (with both mAPs);
* :mod:`~custom.deployment.seeded` and :mod:`~custom.deployment.speed`: seeded checkpoints and the timing of
  ``tools/analysis_tools/benchmark_onnx.py``.

Importing the package is light: torch, onnx and onnxruntime are imported by the functions that need them.
"""
