"""Benchmark the temporal encoders: forward+backward time and peak memory per encoder and sequence length.

Also compares Mamba2's chunked SSD with the naive sequential scan at the same length (whole encoder, and the
SSD kernel alone). Run `python bench/encoders.py [--device cpu|cuda] [--quick] [--threads N]`.

Time: best (minimum) wall-clock ms of up to `repeats` forward+backward passes after warm-up passes, all in
this process; the minimum, as timeit reports, is the figure least disturbed by other work on a shared CPU.
Peak memory: on CUDA, torch.cuda.max_memory_allocated() during one forward+backward pass, minus what was
allocated before it. On CPU, each memory figure comes from a fresh subprocess with glibc's mmap threshold
pinned at 64 KiB (so freed tensors leave the resident set; this slows allocation, which is why timing is
done elsewhere); the figure is the growth of the peak resident set (Linux VmHWM, reset through
/proc/self/clear_refs just before the pass) over the resident set before it. Where /proc is not available
it falls back to the psutil RSS delta after the pass, a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from trader.models.mamba2 import Mamba2Encoder
from trader.models.registry import ENCODER_NAMES, build_encoder
from trader.models.ssd import ssd_chunked, ssd_naive

TARGETS = (*ENCODER_NAMES, "mamba2-naive", "ssd-chunked", "ssd-naive")
FULL_LENGTHS = (64, 256, 1024)
QUICK_LENGTHS = (64, 256)
TIME_BUDGET_S = 10.0  # stop timing a configuration after this many seconds (at least one timed pass)


@dataclass
class Settings:
    """What one measurement runs: sizes, device, repetitions."""

    device: str
    batch: int
    features: int
    hidden: int
    warmup: int
    repeats: int
    seed: int = 0


@dataclass
class Result:
    """One measurement: best forward+backward time and peak extra memory."""

    target: str
    length: int
    ms: float
    peak_mb: float


def make_pass(target: str, length: int, s: Settings) -> Callable[[], None]:
    """Return a closure that runs one forward+backward pass of `target` at sequence length `length`."""
    torch.manual_seed(s.seed)
    device = torch.device(s.device)
    if target.startswith("ssd-"):
        heads, head_dim, d_state = 2, s.hidden, 16  # the shapes the default Mamba2 encoder hands its SSD
        x = torch.randn(s.batch, length, heads, head_dim, device=device, requires_grad=True)
        dt = torch.rand(s.batch, length, heads, device=device).mul(0.1).add(0.001).requires_grad_()
        A = (-torch.rand(heads, device=device) * 15 - 1).requires_grad_()
        B = torch.randn(s.batch, length, 1, d_state, device=device, requires_grad=True)
        C = torch.randn(s.batch, length, 1, d_state, device=device, requires_grad=True)

        def ssd_pass() -> None:
            if target == "ssd-chunked":
                y, _ = ssd_chunked(x, dt, A, B, C, chunk_size=16)
            else:
                y, _ = ssd_naive(x, dt, A, B, C)
            y.square().mean().backward()

        return ssd_pass
    if target == "mamba2-naive":
        encoder = Mamba2Encoder(s.features, hidden=s.hidden, scan="naive")
    else:
        encoder = build_encoder(target, s.features, hidden=s.hidden)
    encoder = encoder.to(device).train()
    inputs = torch.randn(s.batch, length, s.features, device=device)

    def encoder_pass() -> None:
        encoder.zero_grad(set_to_none=True)
        encoder.forward_sequence(inputs).square().mean().backward()

    return encoder_pass


def _sync(device: str) -> None:
    """Wait for queued CUDA work, so timings cover it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _read_status_kb(field: str) -> int:
    """Read one `Vm...` field of /proc/self/status in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_memory_mb(run: Callable[[], None], device: str) -> float:
    """Peak extra memory (MiB) of one call of `run`: CUDA allocator peak, or the CPU peak-RSS growth."""
    if device.startswith("cuda"):
        _sync(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run()
        _sync(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset the peak resident set (VmHWM) to the current one
        before_kb = _read_status_kb("VmRSS")
        run()
        return (_read_status_kb("VmHWM") - before_kb) / 1024
    except OSError:
        import psutil  # a declared dependency; used only where /proc is missing

        process = psutil.Process()
        before = process.memory_info().rss
        run()
        return (process.memory_info().rss - before) / 2**20


def time_ms(target: str, length: int, s: Settings) -> float:
    """Warm up, then time up to `repeats` forward+backward passes; return the fastest in ms."""
    run = make_pass(target, length, s)
    for _ in range(s.warmup):
        run()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < s.repeats and (not times or time.perf_counter() - started < TIME_BUDGET_S):
        _sync(s.device)
        t0 = time.perf_counter()
        run()
        _sync(s.device)
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def memory_mb(target: str, length: int, s: Settings) -> float:
    """One warm-up pass, then the peak extra memory (MiB) of one forward+backward pass."""
    run = make_pass(target, length, s)
    run()
    return peak_memory_mb(run, s.device)


def memory_mb_in_subprocess(target: str, length: int, s: Settings, threads: int | None) -> float:
    """Run `memory_mb` in a fresh interpreter (a clean resident set for the CPU memory figure)."""
    command = [
        sys.executable, os.path.abspath(__file__), "--worker", target, "--length", str(length),
        "--device", s.device, "--batch", str(s.batch), "--features", str(s.features), "--hidden", str(s.hidden),
    ]
    if threads:
        command += ["--threads", str(threads)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark worker for {target} at T={length} failed:\n{done.stderr.strip()}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"])


def print_tables(results: list[Result], lengths: tuple[int, ...]) -> None:
    """Print the time/memory table and the chunked-vs-naive speed ratios."""
    by_key = {(r.target, r.length): r for r in results}
    head = f"{'encoder':<14}" + "".join(f"{'T=' + str(t) + ' ms':>14}{'peak MiB':>10}" for t in lengths)
    print(head)
    print("-" * len(head))
    for target in (*ENCODER_NAMES, "mamba2-naive", "ssd-chunked", "ssd-naive"):
        cells = "".join(f"{by_key[target, t].ms:>14.1f}{by_key[target, t].peak_mb:>10.1f}" for t in lengths)
        print(f"{target:<14}{cells}")
    print()
    print(f"{'speed-up of chunked over naive scan':<40}" + "".join(f"{'T=' + str(t):>10}" for t in lengths))
    for label, naive, chunked in (("mamba2 encoder (fwd+bwd)", "mamba2-naive", "mamba2"),
                                  ("SSD kernel alone (fwd+bwd)", "ssd-naive", "ssd-chunked")):
        ratios = "".join(f"{by_key[naive, t].ms / by_key[chunked, t].ms:>9.1f}x" for t in lengths)
        print(f"{label:<40}{ratios}")


def main() -> None:
    """Parse arguments; run one worker measurement, or the whole benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="T in (64, 256), fewer repetitions")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--worker", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda was asked for but torch sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(
        device=args.device, batch=args.batch, features=args.features, hidden=args.hidden,
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 2),
        repeats=args.repeats if args.repeats is not None else (2 if args.quick else 5),
    )
    if args.worker:
        print(json.dumps({"peak_mb": memory_mb(args.worker, args.length, settings)}))
        return

    lengths = QUICK_LENGTHS if args.quick else FULL_LENGTHS
    print(
        f"device={settings.device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"cpus={os.cpu_count()} batch={settings.batch} features={settings.features} "
        f"hidden={settings.hidden} (layers=2, heads=2, d_state=16, chunk_size=16)"
    )
    print("time: best-of-repeats forward+backward ms; peak MiB: "
          + ("torch.cuda.max_memory_allocated growth" if settings.device.startswith("cuda")
             else "peak-RSS growth in a fresh subprocess (see module docstring)"))
    print()
    results = []
    for target in TARGETS:
        for length in lengths:
            ms = time_ms(target, length, settings)
            if settings.device.startswith("cuda"):
                peak = memory_mb(target, length, settings)
            else:
                peak = memory_mb_in_subprocess(target, length, settings, args.threads)
            results.append(Result(target, length, ms, peak))
    print_tables(results, lengths)


if __name__ == "__main__":
    main()
