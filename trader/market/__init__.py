"""Market data: one bar schema, one option-snapshot schema, validated sources and a Parquet cache."""
from trader.market.base import (
    BAR_COLUMNS,
    OPTION_COLUMNS,
    TZ,
    HistorySource,
    Market,
    MissingQuoteError,
    OptionQuote,
    OptionQuoter,
)
from trader.market.files import SnapshotQuoter, load_bars_file, load_market_files, load_options_file
from trader.market.quoter import ModelQuoter
from trader.market.real_daily import load_real_daily
from trader.market.resample import resample_bars, resample_positions
from trader.market.store import list_markets, load_market, save_market
from trader.market.synthetic import generate_synthetic
from trader.market.validate import Gap, find_gaps, validate_bars, validate_options

__all__ = [
    "BAR_COLUMNS", "OPTION_COLUMNS", "TZ", "Gap", "HistorySource", "Market", "MissingQuoteError", "ModelQuoter",
    "OptionQuote", "OptionQuoter", "SnapshotQuoter", "find_gaps", "generate_synthetic", "list_markets",
    "load_bars_file", "load_market", "load_market_files", "load_options_file", "load_real_daily", "resample_bars",
    "resample_positions", "save_market", "validate_bars", "validate_options",
]
