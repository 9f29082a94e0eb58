"""dqmlir's version: saved models record it, and load only with the same one."""
__version__ = "0.3.0"
