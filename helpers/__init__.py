"""Helpers for the pruning workbook: data modules, models, training, pruning measurements, plots.

Notebooks import the modules explicitly::

    from helpers import data, models, plots, pruning, training
"""

__version__ = "0.1.0"
