"""Error types: one clear sentence for a user mistake, never a traceback."""


class GaussianError(Exception):
    """Base class for errors caused by user input or state; the CLI prints the message alone."""


class SpecError(GaussianError):
    """An experiment spec (file, override or proposal) failed validation."""


class DataError(GaussianError):
    """Market data failed validation or could not be loaded."""


class OptionSymbolError(GaussianError):
    """An OCC option symbol could not be parsed or formatted."""


class LookaheadError(GaussianError):
    """Something asked for data later than the clock's current time."""


class StateError(GaussianError):
    """Stored state (queue, run directory, ledger) is missing, unreadable or inconsistent."""
