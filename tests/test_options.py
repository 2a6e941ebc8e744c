"""Tests for trader.options: Black-Scholes, greeks, implied vol, OCC symbols, year fractions, contract choice."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from trader.errors import DataError, GaussianError, OptionSymbolError
from trader.options import (
    OccContract,
    bs_greeks,
    bs_greeks_scalar,
    bs_price,
    bs_price_scalar,
    implied_vol,
    occ_symbol,
    parse_occ,
    right_code,
    select_contract,
    year_fraction,
)

NY = "America/New_York"
GREEKS = ("delta", "gamma", "theta", "vega", "rho")


def _random_inputs(seed: int, n: int) -> dict[str, np.ndarray]:
    """Draw moderate random option inputs (both rights) from a seeded generator."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(20.0, 600.0, n)
    return {
        "S": S,
        "K": S * np.exp(rng.normal(0.0, 0.2, n)),
        "T": rng.uniform(0.02, 2.0, n),
        "sigma": rng.uniform(0.05, 1.0, n),
        "right": rng.random(n) < 0.5,
        "r": rng.uniform(-0.01, 0.08, n),
        "q": rng.uniform(0.0, 0.05, n),
    }


# ------------------------------------------------------------------------------------- Black-Scholes
def test_hull_textbook_prices() -> None:
    assert float(bs_price(42, 40, 0.5, 0.2, "C", r=0.1)) == pytest.approx(4.76, abs=0.005)
    assert float(bs_price(42, 40, 0.5, 0.2, "P", r=0.1)) == pytest.approx(0.81, abs=0.005)
    # Hull, index option with a dividend yield: S=930, K=900, r=8%, q=3%, sigma=20%, two months.
    assert float(bs_price(930, 900, 2 / 12, 0.2, "C", r=0.08, q=0.03)) == pytest.approx(51.83, abs=0.005)


def test_hull_textbook_greeks() -> None:
    # Hull's greek letters example: S=49, K=50, r=5%, sigma=20%, T=20 weeks.
    g = bs_greeks(49, 50, 0.3846, 0.2, "C", r=0.05)
    assert float(g["delta"]) == pytest.approx(0.522, abs=5e-4)
    assert float(g["gamma"]) == pytest.approx(0.066, abs=5e-4)
    assert float(g["theta"]) * 365 == pytest.approx(-4.31, abs=5e-3)  # per year in the book
    assert float(g["vega"]) * 100 == pytest.approx(12.1, abs=0.05)  # per 1.00 of vol in the book
    assert float(g["rho"]) * 100 == pytest.approx(8.91, abs=5e-3)  # per 1.00 of rate in the book


def test_put_call_parity_random() -> None:
    x = _random_inputs(seed=1, n=2000)
    args = (x["S"], x["K"], x["T"], x["sigma"])
    call = bs_price(*args, "C", r=x["r"], q=x["q"])
    put = bs_price(*args, "P", r=x["r"], q=x["q"])
    forward = x["S"] * np.exp(-x["q"] * x["T"]) - x["K"] * np.exp(-x["r"] * x["T"])
    np.testing.assert_allclose(call - put, forward, rtol=0, atol=1e-9 * x["S"].max())
    assert np.all(call >= 0) and np.all(put >= 0)


def test_parity_holds_in_degenerate_cases() -> None:
    S, K, r, q = 100.0, np.array([90.0, 100.0, 110.0]), 0.05, 0.02
    for T, sigma in [(0.0, 0.2), (-0.1, 0.2), (0.5, 0.0)]:
        t = max(T, 0.0)
        diff = bs_price(S, K, T, sigma, "C", r, q) - bs_price(S, K, T, sigma, "P", r, q)
        np.testing.assert_allclose(diff, S * math.exp(-q * t) - K * math.exp(-r * t), atol=1e-12)


def test_expiry_and_zero_vol_limits() -> None:
    K = np.array([90.0, 100.0, 110.0])
    np.testing.assert_array_equal(bs_price(100.0, K, 0.0, 0.3, "C"), [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(bs_price(100.0, K, -1.0, 0.3, "P"), [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(bs_price(100.0, K, 0.5, 0.0, "C"), [10.0, 0.0, 0.0])  # r = q = 0: intrinsic
    # sigma -> 0 is continuous with the deterministic limit when r, q are not zero.
    np.testing.assert_allclose(
        bs_price(100.0, K, 0.5, 1e-9, "P", r=0.05, q=0.01), bs_price(100.0, K, 0.5, 0.0, "P", r=0.05, q=0.01)
    )
    g = bs_greeks(100.0, K, 0.0, 0.3, "C")
    np.testing.assert_array_equal(g["delta"], [1.0, 0.0, 0.0])
    for key in ("gamma", "theta", "vega", "rho"):
        np.testing.assert_array_equal(g[key], 0.0)
    np.testing.assert_array_equal(bs_greeks(100.0, K, 0.0, 0.3, "P")["delta"], [0.0, 0.0, -1.0])


def test_nan_inputs_propagate() -> None:
    assert np.isnan(bs_price(100.0, 100.0, 0.1, np.nan, "C"))
    assert np.isnan(bs_price(100.0, 100.0, np.nan, 0.2, "C"))
    assert all(np.isnan(v) for v in bs_greeks(100.0, 100.0, 0.1, np.nan, "P").values())
    assert math.isnan(bs_price_scalar(100.0, 100.0, 0.1, math.nan, "C"))


def test_broadcasting_and_right_forms() -> None:
    K = np.array([95.0, 100.0, 105.0])
    T = np.array([[0.1], [0.5]])
    out = bs_price(100.0, K, T, 0.2, "C")
    assert out.shape == (2, 3)
    mixed = bs_price(100.0, K, 0.5, 0.2, np.array(["C", "P", "c"]))
    as_bool = bs_price(100.0, K, 0.5, 0.2, np.array([True, False, True]))
    as_series = bs_price(100.0, K, 0.5, 0.2, pd.Series(["C", "P", "C"]))
    np.testing.assert_array_equal(mixed, as_bool)
    np.testing.assert_array_equal(mixed, as_series)
    assert bs_price(100.0, 100.0, 0.5, 0.2, "C").shape == ()
    with pytest.raises(ValueError, match="'X'"):
        bs_price(100.0, K, 0.5, 0.2, np.array(["C", "X", "P"]))
    with pytest.raises(ValueError, match="right"):
        bs_price_scalar(100.0, 100.0, 0.5, 0.2, "call-ish")
    assert right_code("put") == "P" and right_code(True) == "C"


def test_greeks_match_finite_differences() -> None:
    x = _random_inputs(seed=2, n=400)
    S, K, T, sig, right, r, q = (x[k] for k in ("S", "K", "T", "sigma", "right", "r", "q"))
    g = bs_greeks(S, K, T, sig, right, r, q)

    def price(**kw: np.ndarray) -> np.ndarray:
        a = {"S": S, "K": K, "T": T, "sigma": sig, "r": r, "q": q} | kw
        return bs_price(a["S"], a["K"], a["T"], a["sigma"], right, a["r"], a["q"])

    hs = 1e-5 * S
    np.testing.assert_allclose(g["delta"], (price(S=S + hs) - price(S=S - hs)) / (2 * hs), atol=1e-7)
    hg = 2e-4 * S
    gamma_fd = (price(S=S + hg) - 2 * price() + price(S=S - hg)) / hg**2
    np.testing.assert_allclose(g["gamma"], gamma_fd, rtol=1e-4, atol=1e-8)
    ht = 1e-5
    theta_fd = -(price(T=T + ht) - price(T=T - ht)) / (2 * ht) / 365.0
    np.testing.assert_allclose(g["theta"], theta_fd, rtol=1e-5, atol=1e-7)
    hv = 1e-5
    vega_fd = (price(sigma=sig + hv) - price(sigma=sig - hv)) / (2 * hv) / 100.0
    np.testing.assert_allclose(g["vega"], vega_fd, rtol=1e-5, atol=1e-8)
    hr = 1e-6
    rho_fd = (price(r=r + hr) - price(r=r - hr)) / (2 * hr) / 100.0
    np.testing.assert_allclose(g["rho"], rho_fd, rtol=1e-5, atol=1e-7)


def test_zero_vol_greeks_match_finite_differences() -> None:
    S, K, T, r, q = 100.0, 90.0, 0.5, 0.05, 0.02
    g = bs_greeks(S, K, T, 0.0, "C", r, q)
    h = 1e-6
    assert float(g["delta"]) == pytest.approx(
        (bs_price(S + h, K, T, 0.0, "C", r, q) - bs_price(S - h, K, T, 0.0, "C", r, q)) / (2 * h), abs=1e-6
    )
    theta_fd = (
        -(bs_price(S, K, T + h, 0.0, "C", r, q) - bs_price(S, K, T - h, 0.0, "C", r, q)) / (2 * h) / 365
    )
    assert float(g["theta"]) == pytest.approx(float(theta_fd), abs=1e-8)
    rho_fd = (bs_price(S, K, T, 0.0, "C", r + h, q) - bs_price(S, K, T, 0.0, "C", r - h, q)) / (2 * h) / 100
    assert float(g["rho"]) == pytest.approx(float(rho_fd), abs=1e-7)
    assert float(g["gamma"]) == 0.0 and float(g["vega"]) == 0.0


def test_scalar_matches_vectorized() -> None:
    x = _random_inputs(seed=3, n=300)
    edges = [
        (100.0, 100.0, 0.0, 0.2),
        (100.0, 90.0, -0.01, 0.2),
        (100.0, 110.0, 0.3, 0.0),
        (100.0, 90.0, 0.3, 0.0),
    ]
    cases = [
        (
            float(x["S"][i]),
            float(x["K"][i]),
            float(x["T"][i]),
            float(x["sigma"][i]),
            bool(x["right"][i]),
            float(x["r"][i]),
            float(x["q"][i]),
        )
        for i in range(300)
    ] + [(*e, right, 0.04, 0.01) for e in edges for right in ("C", "P")]
    for S, K, T, sig, right, r, q in cases:
        code = right if isinstance(right, str) else ("C" if right else "P")
        assert bs_price_scalar(S, K, T, sig, code, r, q) == pytest.approx(
            float(bs_price(S, K, T, sig, right, r, q)), rel=1e-10, abs=1e-12
        )
        gs = bs_greeks_scalar(S, K, T, sig, right, r, q)
        gv = bs_greeks(S, K, T, sig, code, r, q)
        assert set(gs) == set(GREEKS)
        for key in GREEKS:
            assert isinstance(gs[key], float)
            assert gs[key] == pytest.approx(float(gv[key]), rel=1e-9, abs=1e-12), (key, S, K, T, sig, right)


# -------------------------------------------------------------------------------------- implied vol
def test_implied_vol_round_trip_random() -> None:
    x = _random_inputs(seed=4, n=3000)
    S, K, T, sig, right, r, q = (x[k] for k in ("S", "K", "T", "sigma", "right", "r", "q"))
    price = bs_price(S, K, T, sig, right, r, q)
    iv = implied_vol(price, S, K, T, right, r, q)
    vega = bs_greeks(S, K, T, sig, right, r, q)["vega"]
    informative = vega > 1e-4 * S  # the price says something about the vol
    assert np.all(np.isfinite(iv[informative]))
    np.testing.assert_allclose(iv[informative], sig[informative], atol=1e-8)
    ok = np.isfinite(iv)
    np.testing.assert_allclose(bs_price(S, K, T, iv, right, r, q)[ok], price[ok], rtol=1e-10, atol=1e-10)


def test_implied_vol_on_tick_rounded_chain_and_short_dated() -> None:
    strikes = np.arange(450.0, 551.0, 1.0)
    T = np.array([[0.5 / (365 * 24)], [1 / 365], [30 / 365]])  # 30 minutes, 1 day, 30 days
    for right in ("C", "P"):
        quotes = np.round(bs_price(500.0, strikes, T, 0.15, right, 0.05, 0.013), 2)
        iv = implied_vol(quotes, 500.0, strikes, T, right, 0.05, 0.013)
        assert iv.shape == quotes.shape
        ok = np.isfinite(iv)
        assert ok.sum() > 100
        np.testing.assert_allclose(
            bs_price(500.0, strikes, T, iv, right, 0.05, 0.013)[ok], quotes[ok], atol=1e-9
        )
    hourly = implied_vol(bs_price(500.0, 501.0, 1 / (365 * 24), 0.25, "C"), 500.0, 501.0, 1 / (365 * 24), "C")
    assert float(hourly) == pytest.approx(0.25, abs=1e-8)


def test_implied_vol_deep_itm_european_put_below_intrinsic() -> None:
    # With r > 0 a European put may trade below K - S; its vol still exists above the discounted bound.
    price = float(bs_price(50.0, 100.0, 1.0, 0.3, "P", r=0.1))
    assert price < 50.0
    assert float(implied_vol(price, 50.0, 100.0, 1.0, "P", r=0.1)) == pytest.approx(0.3, abs=1e-8)


def test_implied_vol_nan_cases() -> None:
    S, K, T, r = 100.0, 90.0, 0.5, 0.05
    lower = S - K * math.exp(-r * T)
    cases = [
        (lower - 0.01, T, "C"),  # below the no-arbitrage lower bound
        (9.99, T, "C"),  # below intrinsic
        (lower, T, "C"),  # no time value: vol undetermined
        (S + 0.01, T, "C"),  # above the upper bound S
        (S, T, "C"),  # at the upper bound
        (K, T, "P"),  # put above K e^{-rT}
        (12.0, 0.0, "C"),  # at expiry
        (12.0, -0.1, "C"),  # after expiry
        (math.nan, T, "C"),
        (-1.0, T, "P"),
        (0.0, T, "P"),  # worthless OTM put
    ]
    for price, t, right in cases:
        assert np.isnan(implied_vol(price, S, K, t, right, r)), (price, t, right)
    prices = np.array([c[0] for c in cases])
    Ts = np.array([c[1] for c in cases])
    rights = np.array([c[2] for c in cases])
    assert np.all(np.isnan(implied_vol(prices, S, K, Ts, rights, r)))
    assert np.isnan(implied_vol(5.0, 100.0, 100.0, 0.5, "C", q=np.inf))
    assert np.isnan(implied_vol(5.0, 0.0, 100.0, 0.5, "C"))


def test_implied_vol_mixed_valid_and_invalid_shapes() -> None:
    prices = np.array([[5.0, -1.0], [200.0, 2.0]])
    iv = implied_vol(prices, 100.0, 100.0, np.array([0.5, 0.25]), np.array(["C", "P"]))
    assert iv.shape == (2, 2)
    assert np.isfinite(iv[0, 0]) and np.isfinite(iv[1, 1])
    assert np.isnan(iv[0, 1]) and np.isnan(iv[1, 0])
    assert float(bs_price(100.0, 100.0, 0.5, iv[0, 0], "C")) == pytest.approx(5.0, abs=1e-10)
    assert implied_vol(5.0, 100.0, 100.0, 0.5, "C").shape == ()


# ------------------------------------------------------------------------------------------ symbols
@pytest.mark.parametrize(
    ("symbol", "root", "expiry", "right", "strike"),
    [
        ("SPY240119C00470000", "SPY", date(2024, 1, 19), "C", 470.0),
        ("SPY240119P00470500", "SPY", date(2024, 1, 19), "P", 470.5),
        ("SPXW251231C05000000", "SPXW", date(2025, 12, 31), "C", 5000.0),
        ("SPY1240621P00123456", "SPY1", date(2024, 6, 21), "P", 123.456),
        ("X300101C00000001", "X", date(2030, 1, 1), "C", 0.001),
        ("ABCDEF991231P99999999", "ABCDEF", date(2099, 12, 31), "P", 99999.999),
    ],
)
def test_occ_round_trip(symbol: str, root: str, expiry: date, right: str, strike: float) -> None:
    contract = parse_occ(symbol)
    assert contract == OccContract(root=root, expiry=expiry, right=right, strike=strike)
    assert occ_symbol(root, expiry, right, strike) == symbol
    assert contract.symbol == symbol


def test_occ_fractional_strikes_round_trip() -> None:
    rng = np.random.default_rng(5)
    for units in rng.integers(1, 99_999_999, 500):
        strike = int(units) / 1000.0
        symbol = occ_symbol("SPY", date(2024, 3, 15), "P", strike)
        assert parse_occ(symbol).strike == strike
        assert occ_symbol("SPY", date(2024, 3, 15), "P", parse_occ(symbol).strike) == symbol
    for strike in (0.5, 470.5, 470.25, 1.05, 12.345):
        assert parse_occ(occ_symbol("SPY", date(2024, 1, 19), "C", strike)).strike == strike


def test_occ_accepts_expiry_forms_and_padded_root() -> None:
    want = "SPY240119C00470000"
    for expiry in (date(2024, 1, 19), pd.Timestamp("2024-01-19"), np.datetime64("2024-01-19"), "2024-01-19"):
        assert occ_symbol("SPY", expiry, "call", 470) == want
    assert parse_occ("SPY   240119C00470000") == parse_occ(want)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SPY",
        "SPY240119X00470000",
        "SPY241319C00470000",
        "SPY240230C00470000",
        "spy240119c00470000",
        "TOOLONG240119C00470000",
        "SPY240119C0047000",
        "SPY240119C004700000",
        "SPY240119C00000000",
        "240119C00470000",
        " SPY240119C00470000",
    ],
)
def test_parse_occ_rejects_bad_symbols(bad: str) -> None:
    with pytest.raises(OptionSymbolError) as info:
        parse_occ(bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, GaussianError)


def test_parse_occ_rejects_non_strings() -> None:
    with pytest.raises(OptionSymbolError, match="None"):
        parse_occ(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("root", "expiry", "right", "strike", "needle"),
    [
        ("SPY", date(2024, 1, 19), "C", 470.0001, "470.0001"),
        ("SPY", date(2024, 1, 19), "C", -5.0, "-5.0"),
        ("SPY", date(2024, 1, 19), "C", 0.0, "0.0"),
        ("SPY", date(2024, 1, 19), "C", 100_000.0, "100000.0"),
        ("SPY", date(2024, 1, 19), "C", math.nan, "nan"),
        ("", date(2024, 1, 19), "C", 470.0, "''"),
        ("TOOLONG", date(2024, 1, 19), "C", 470.0, "TOOLONG"),
        ("spy", date(2024, 1, 19), "C", 470.0, "spy"),
        ("SPY", date(2024, 1, 19), "X", 470.0, "'X'"),
        ("SPY", "not a date", "C", 470.0, "not a date"),
        ("SPY", date(2100, 1, 1), "C", 470.0, "2100"),
    ],
)
def test_occ_symbol_rejects_bad_parts(
    root: str, expiry: object, right: str, strike: float, needle: str
) -> None:
    with pytest.raises(OptionSymbolError, match=needle.replace(".", r"\.")):
        occ_symbol(root, expiry, right, strike)


# --------------------------------------------------------------------------------------------- time
def test_year_fraction() -> None:
    open_ = pd.Timestamp("2024-01-19 09:30", tz=NY)
    assert year_fraction(open_, date(2024, 1, 19)) == pytest.approx(6.5 / (365 * 24))
    assert year_fraction(open_, date(2024, 1, 20)) == pytest.approx((24 + 6.5) / (365 * 24))
    assert year_fraction(open_.tz_convert("UTC"), date(2024, 1, 19)) == pytest.approx(6.5 / (365 * 24))
    assert year_fraction(pd.Timestamp("2024-01-19 16:00", tz=NY), date(2024, 1, 19)) == 0.0
    assert year_fraction(pd.Timestamp("2024-01-19 16:01", tz=NY), date(2024, 1, 19)) == 0.0
    assert year_fraction(pd.Timestamp("2024-02-01 10:00", tz=NY), date(2024, 1, 19)) == 0.0
    # Expiry given as the chain's naive midnight timestamp.
    assert year_fraction(open_, pd.Timestamp("2024-01-19")) == pytest.approx(6.5 / (365 * 24))
    # Across the March DST change there is one hour less of real time.
    across = year_fraction(pd.Timestamp("2024-03-08 16:00", tz=NY), date(2024, 3, 11))
    assert across == pytest.approx((3 * 24 - 1) / (365 * 24))
    assert year_fraction(pd.Timestamp("2024-01-02 16:00", tz=NY), date(2025, 1, 1)) == pytest.approx(
        365 / 365
    )


def test_year_fraction_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        year_fraction(pd.Timestamp("2024-01-19 09:30"), date(2024, 1, 19))


# ---------------------------------------------------------------------------------- contract choice
def _chain(spot: float = 500.0, sigma: float = 0.2, dtes: tuple[int, ...] = (3, 10, 31)) -> pd.DataFrame:
    """Build a small option chain snapshot (option schema + dte) priced with Black-Scholes."""
    now = pd.Timestamp("2024-01-02 15:00", tz=NY)
    rows = []
    for dte in dtes:
        expiry = (now.normalize() + pd.Timedelta(days=dte)).tz_localize(None)
        T = year_fraction(now, expiry)
        for right in ("C", "P"):
            for strike in np.arange(480.0, 521.0, 5.0):
                g = bs_greeks_scalar(spot, strike, T, sigma, right)
                mid = bs_price_scalar(spot, strike, T, sigma, right)
                rows.append(
                    {
                        "timestamp": now,
                        "symbol": occ_symbol("SPY", expiry, right, strike),
                        "underlying": "SPY",
                        "expiry": expiry,
                        "strike": strike,
                        "right": right,
                        "bid": max(round(mid - 0.05, 2), 0.0),
                        "ask": round(mid + 0.05, 2),
                        "volume": 100.0,
                        "open_interest": 1000.0,
                        "iv": sigma,
                        **g,
                        "dte": dte,
                    }
                )
    return pd.DataFrame(rows)


def _closest_delta(chain: pd.DataFrame, right: str, dte: int, target: float) -> float:
    sub = chain[(chain["right"] == right) & (chain["dte"] == dte)]
    return float(sub.loc[(sub["delta"].abs() - target).abs().idxmin(), "strike"])


def test_select_by_delta_nearest_expiry_first() -> None:
    chain = _chain()
    row = select_contract(chain, "C", target_delta=0.30, dte_min=5, dte_max=40)
    assert isinstance(row, pd.Series)
    assert row["dte"] == 10 and row["right"] == "C"
    assert row["strike"] == _closest_delta(chain, "C", 10, 0.30)
    assert parse_occ(row["symbol"]).strike == row["strike"]
    put = select_contract(chain, "P", target_delta=-0.30, dte_min=5, dte_max=40)
    assert put is not None and put["right"] == "P" and put["dte"] == 10
    assert put["strike"] == _closest_delta(chain, "P", 10, 0.30)
    same = select_contract(chain, "p", target_delta=0.30, dte_min=5, dte_max=40)
    assert same is not None and same["symbol"] == put["symbol"]
    assert select_contract(chain, "C", target_delta=0.5)["dte"] == 3  # default window starts at 0


def test_select_by_moneyness() -> None:
    chain = _chain()
    call = select_contract(chain, "C", moneyness=0.02, spot=500.0, dte_min=0, dte_max=40)
    put = select_contract(chain, "P", moneyness=0.02, spot=500.0, dte_min=0, dte_max=40)
    atm = select_contract(chain, "C", moneyness=0.0, spot=501.0)
    assert (call["strike"], call["dte"]) == (510.0, 3)
    assert (put["strike"], put["dte"]) == (490.0, 3)
    assert atm["strike"] == 500.0
    # A tie between two strikes goes to the further out-of-the-money one.
    assert select_contract(chain, "C", moneyness=0.0, spot=502.5)["strike"] == 505.0
    assert select_contract(chain, "P", moneyness=0.0, spot=502.5)["strike"] == 500.0


def test_select_window_and_quotes() -> None:
    chain = _chain()
    assert select_contract(chain, "C", target_delta=0.3, dte_max=5)["dte"] == 3
    assert select_contract(chain, "C", target_delta=0.3, dte_min=11, dte_max=30) is None
    assert select_contract(chain, "C", target_delta=0.3, dte_min=40) is None
    # Unquoted contracts (bid and ask both 0) are skipped; a one-sided quote still counts.
    dead = (chain["dte"] == 3) & (chain["strike"] == 510.0)
    chain.loc[dead, ["bid", "ask"]] = 0.0
    assert select_contract(chain, "C", moneyness=0.02, spot=500.0)["strike"] == 515.0
    chain.loc[dead & (chain["right"] == "C"), "ask"] = 0.05
    assert select_contract(chain, "C", moneyness=0.02, spot=500.0)["strike"] == 510.0
    # When the nearest expiry has nothing quoted, the next one is used.
    chain.loc[chain["dte"] == 3, ["bid", "ask"]] = 0.0
    assert select_contract(chain, "C", moneyness=0.02, spot=500.0)["dte"] == 10
    # Contracts without a delta cannot be chosen by delta.
    chain.loc[chain["dte"] == 10, "delta"] = np.nan
    assert select_contract(chain, "C", target_delta=0.3)["dte"] == 31


def test_select_empty_and_bad_arguments() -> None:
    chain = _chain()
    assert select_contract(chain.iloc[0:0], "C", target_delta=0.3) is None
    assert select_contract(chain[chain["right"] == "P"], "C", target_delta=0.3) is None
    with pytest.raises(ValueError, match="exactly one"):
        select_contract(chain, "C")
    with pytest.raises(ValueError, match="exactly one"):
        select_contract(chain, "C", target_delta=0.3, moneyness=0.0, spot=500.0)
    with pytest.raises(ValueError, match="spot"):
        select_contract(chain, "C", moneyness=0.02)
    with pytest.raises(ValueError, match="right"):
        select_contract(chain, "X", target_delta=0.3)
    with pytest.raises(DataError, match="dte"):
        select_contract(chain.drop(columns=["dte"]), "C", target_delta=0.3)
    with pytest.raises(DataError, match="delta"):
        select_contract(chain.drop(columns=["delta"]), "C", target_delta=0.3)
    assert select_contract(chain.drop(columns=["delta"]), "C", moneyness=0.0, spot=500.0) is not None
