"""Runs the trading core: specs, runs, ideas, promotion, the optimizer, paper trading, the web dashboard and the CLI,
in wings. Each wing imports only the wings below it: cli -> web -> paper, optimizer -> promotion -> ideas -> runs
-> spec.
"""
