"""How many bars a TCN's output can depend on, without loading torch: the spec checks `model.window` against it."""
from __future__ import annotations


def tcn_receptive_field(layers: int, kernel_size: int) -> int:
    """Bars (the current one included) a TCN of `layers` blocks, dilations 1, 2, 4, ..., two causal convolutions
    of `kernel_size` per block, can see: 1 + 2 (k - 1) (2^layers - 1)."""
    return 1 + 2 * (kernel_size - 1) * (2**layers - 1)
