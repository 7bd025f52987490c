"""dlrun: the classic deep-learning lessons as named, runnable experiments."""

__version__ = "0.1.0"
