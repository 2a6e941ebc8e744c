"""Runs the trading core: specs, runs, ideas, promotion, the optimizer, paper trading and the CLI, in wings.
Each wing imports only the wings below it: cli -> paper, optimizer -> promotion -> ideas -> runs -> spec.
"""
