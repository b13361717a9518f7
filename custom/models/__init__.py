from .data_preprocessor import ChannelsLastDetDataPreprocessor
from .ssd_head import FixedSSDHead

__all__ = ['ChannelsLastDetDataPreprocessor', 'FixedSSDHead']
