"""tzoo: one transformer backbone for text, images, audio and control."""
__version__ = "0.1.0"
