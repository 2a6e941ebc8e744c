"""Running one experiment into a run directory: pipeline, backtest, runner, run store, ledger, containment.
Imports spec/ (and files.py, home.py); never ideas/, promotion/, optimizer/, paper/ or cli/."""
