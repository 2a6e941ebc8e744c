"""Imported once by the warm fork server (experiments.runs.warm): every heavy module an experiment loads.

Importing is all it does: no numeric work runs here, so the forked children inherit no thread pool.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import hmmlearn.hmm  # noqa: F401
import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import scipy.stats  # noqa: F401
import sklearn  # noqa: F401
import torch  # noqa: F401
import xgboost  # noqa: F401

import analysis.report  # noqa: F401
import experiments.runs.child
import experiments.runs.runner  # noqa: F401
import trader.exit_model
import trader.models.training
import trader.regime  # noqa: F401
