"""The known-answer discovery benchmark: the whole loop on synthetic markets with planted edges and null markets.

Usage: python bench/discovery.py [--quick] [--seeds K] [--edges null,medium] [--out FOLDER]
Prints a table per edge strength (promotion rate, holdout P&L of what was promoted, the targets) and writes
discovery.json and power_curve.png; the same as `gaussian bench discovery`.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.cli.main import app

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "bench", "discovery", *sys.argv[1:]]
    app()
