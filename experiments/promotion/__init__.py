"""Promotion and the leaderboard: the gate with its sealed holdout, promoted.json, ranked runs.
Imports ideas/, runs/ and spec/; never optimizer/, paper/ or cli/."""
