"""The version, read by the build backend and by ``tapelog.__version__``."""

__version__ = "0.1.0"
