"""The eight signal names, in their canonical order: a tiny module so that specs and command-line tools can name
the signals without importing numpy and pandas."""
from __future__ import annotations

SIGNAL_NAMES = (
    "predictor_agreement",
    "hmm_stance",
    "momentum",
    "volatility_window",
    "technical",
    "options_flow",
    "regime_quality",
    "advanced",
)
