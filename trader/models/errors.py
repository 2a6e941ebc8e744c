"""Errors raised by the temporal encoders and their registry."""

from trader.errors import GaussianError


class ModelError(GaussianError):
    """A model was asked for with an unknown name, bad hyper-parameters or input of the wrong shape."""
