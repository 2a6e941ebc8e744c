"""Brokers: the simulated broker and the Tradier client."""
