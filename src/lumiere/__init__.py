"""lumiere: bring old film back to life with neural networks."""

__version__ = "0.1.0"
