from .ssd_head import FixedSSDHead

__all__ = ['FixedSSDHead']
