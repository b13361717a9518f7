from .data_preprocessor import ChannelsLastDetDataPreprocessor
from .loading import CheckedLoadImageFromFile
from .ssd_head import FixedSSDHead

__all__ = ['ChannelsLastDetDataPreprocessor', 'CheckedLoadImageFromFile', 'FixedSSDHead']
