"""The experiment spec: its pydantic model, loading/overrides/hashing, the base spec and the time splits.
Imports nothing of experiments/ but files.py and home.py."""
