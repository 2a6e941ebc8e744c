"""Entry controllers: consensus of signals, bandit, PPO policy and Q-scorer."""
