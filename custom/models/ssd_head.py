"""SSDHead that can predict under mmdet 3.3.0.

mmdet 3.3.0's ``BaseDenseHead._predict_by_feat_single`` reads
``self.loss_cls.custom_cls_channels``, but ``SSDHead`` never creates a
``loss_cls`` module (its loss is hard-coded cross-entropy with hard negative
mining), so every val/test step fails with "'SSDHead' object has no attribute
'loss_cls'" (open-mmlab/mmdetection#11063, #11780). ``FixedSSDHead`` states
that there is no loss module; prediction then takes SSD's own softmax path.
"""
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS


@MODELS.register_module()
class FixedSSDHead(SSDHead):
    """``SSDHead`` whose predict/val/test steps work; training is unchanged."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # No loss module: SSDHead.loss_by_feat_single computes its loss inline.
        self.loss_cls = None
