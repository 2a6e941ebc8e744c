"""Strategies: anything with `decide(snapshot) -> intents`, from baselines to the consensus controller."""
