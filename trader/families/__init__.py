"""Feature families beyond the underlying's own bars: breadth, macro, crypto and the option surface.

Each family is one module with `inputs` (what it needs from the market) and `build` (its causal columns);
`registry` picks, checks and joins them.
"""
