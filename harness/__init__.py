"""A multi-framework training harness for comparing learning-rate schedules."""

__version__ = "0.1.0"
