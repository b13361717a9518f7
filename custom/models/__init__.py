from .data_preprocessor import ChannelsLastDetDataPreprocessor
from .loading import CheckedLoadImageFromFile
from .ssd_head import FixedSSDHead
from .wbf_tta import WBFDetTTAModel
from .yolo_head import ClippedYOLOV3Head

__all__ = ['ChannelsLastDetDataPreprocessor', 'CheckedLoadImageFromFile', 'ClippedYOLOV3Head', 'FixedSSDHead',
           'WBFDetTTAModel']
