"""The CLI's file inputs under random bytes and truncation: one `error:` line and exit code 2 every time, never a
traceback; and argument errors are one line too (no usage box)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from experiments.cli.main import run_cli
from experiments.home import set_home
from trader.market.synthetic import generate_synthetic

GOOD_YAML = "entry:\n  type: momentum\n  momentum:\n    lookback_bars: 20\ncosts:\n  latency_bars: 1\nseed: 3\n"
GOOD_JSON = json.dumps({"entry": {"type": "momentum"}, "exits": {"stop_loss_pct": 12.0}, "seed": 3}, indent=2)


@pytest.fixture()
def home(tmp_path: Path):
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def _at(home: Path, args: list[str]) -> list[str]:
    """The arguments with --home (the CLI's root option sets the home for every command)."""
    return ["--home", str(home), *args]


def _files(tmp: Path, rng: random.Random) -> list[Path]:
    """Random bytes and truncations of good YAML, JSON, CSV and Parquet files."""
    bars = generate_synthetic(sessions=1, seed=1).bars.iloc[:50].reset_index()
    csv = bars.to_csv(index=False).encode()
    bars.to_parquet(tmp / "good.parquet")
    parquet = (tmp / "good.parquet").read_bytes()
    out = []
    for k in range(6):
        blobs = {"yaml": rng.randbytes(rng.randint(1, 300)), "json": GOOD_JSON.encode()[: rng.randint(1, 60)],
                 "csv": csv[: rng.randint(1, 400)] + rng.randbytes(k * 7), "parquet": parquet[: rng.randint(8, 2000)]}
        blobs["yml"] = GOOD_YAML.encode()[: rng.randint(1, 40)] + b"\n  - [unclosed"
        for ext, blob in blobs.items():
            p = tmp / f"f{k}.{ext}"
            p.write_bytes(blob)
            out.append(p)
    return out


def test_random_and_truncated_input_files_give_one_error_line(home: Path, capsys: pytest.CaptureFixture) -> None:
    rng = random.Random(16)
    for path in _files(home, rng):
        commands = [["spec", str(path)], ["queue", "add", str(path), "--title", "fuzz"]]
        if path.suffix in (".csv", ".parquet"):
            commands = [["queue", "add", "--set", "data.source=file", "--set", f"data.path={path}", "--title", "f"],
                        ["data", "import", str(path), "--name", f"fz{path.stem}"]]
        for args in commands:
            code = run_cli(_at(home, args))
            out = capsys.readouterr()
            if code == 0 and path.suffix in (".csv", ".parquet"):
                continue  # a truncated file can still be a whole, valid one (a cut at a row's end)
            lines = [line for line in out.err.splitlines() if line.strip()]
            assert code == 2, (args, out.err[-800:], out.out[-400:])
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, out.err[-800:])
            assert "Traceback" not in out.err + out.out


@pytest.mark.parametrize("args", [["queue", "priority", "1", "abc"], ["paper", "--bars", "zero"],
                                  ["queue", "list", "--nope"], ["nosuch"]])
def test_argument_errors_are_one_line(home: Path, capsys: pytest.CaptureFixture, args: list[str]) -> None:
    assert run_cli(_at(home, args)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ")


def test_a_missing_data_file_is_refused_when_queued(home: Path, capsys: pytest.CaptureFixture) -> None:
    code = run_cli(_at(home, ["queue", "add", "--set", "data.source=file", "--set", "data.path=/missing.csv",
                              "--title", "x"]))
    err = capsys.readouterr().err
    assert code == 2 and "data.path '/missing.csv' is not a file" in err
    assert not (home / "queue" / "ideas.json").exists() or "missing.csv" not in (home / "queue" / "ideas.json"
                                                                                 ).read_text()


def _torn_files(tmp: Path, rng: random.Random) -> list[Path]:
    """Bars files cut short inside a row (the last row loses a field or more) or in the middle of a Parquet file,
    small and large (a large CSV is checked by its first rows and its last lines), plus garbage with a .csv name."""
    out = []
    for sessions in (1, 5):
        bars = generate_synthetic(sessions=sessions, seed=2).bars.reset_index()
        text = bars.to_csv(index=False)
        ends = [k for k, ch in enumerate(text) if ch == "\n"]
        for k in range(3):
            start = ends[rng.randrange(len(ends) // 2, len(ends) - 1)] + 1
            last_comma = text.rindex(",", start, ends[ends.index(start - 1) + 1])
            p = tmp / f"torn{sessions}-{k}.csv"
            p.write_text(text[: rng.randint(start + 1, last_comma)])
            out.append(p)
        bars.to_parquet(tmp / "whole.parquet")
        blob = (tmp / "whole.parquet").read_bytes()
        for k in range(2):
            p = tmp / f"torn{sessions}-{k}.parquet"
            p.write_bytes(blob[: rng.randint(len(blob) // 3, len(blob) - 1)])
            out.append(p)
    (tmp / "noise.csv").write_bytes(b"timestamp,open,high,low,close,volume\n" + rng.randbytes(300))
    return [*out, tmp / "noise.csv"]


def test_a_torn_or_garbage_data_file_is_refused_by_queue_add_run_and_spec(home: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    rng = random.Random(7)
    for path in _torn_files(home, rng):
        spec = home / "s.yaml"
        spec.write_text(f"data:\n  source: file\n  path: {path}\n")
        sets = ["--set", "data.source=file", "--set", f"data.path={path}"]
        for args in (["queue", "add", *sets, "--title", "torn"], ["run", *sets, "--json"], ["spec", str(spec)]):
            code = run_cli(_at(home, args))
            out = capsys.readouterr()
            lines = [line for line in out.err.splitlines() if line.strip()]
            assert code == 2, (path.name, args[0], out.err[-800:], out.out[-400:])
            assert len(lines) == 1 and lines[0].startswith("error: ") and path.name in lines[0], (args, out.err)
            assert "Traceback" not in out.err + out.out
    assert not (home / "queue" / "ideas.json").exists() or "torn" not in (home / "queue" / "ideas.json").read_text()


def test_a_whole_data_file_is_accepted_by_queue_add(home: Path, capsys: pytest.CaptureFixture) -> None:
    bars = generate_synthetic(sessions=5, seed=2).bars.reset_index()
    for name in ("whole.csv", "whole.parquet"):
        path = home / name
        bars.to_csv(path, index=False) if name.endswith(".csv") else bars.to_parquet(path)
        code = run_cli(_at(home, ["queue", "add", "--set", "data.source=file", "--set", f"data.path={path}",
                                  "--set", f"seed={len(name)}", "--title", name]))
        assert code == 0, capsys.readouterr().err


def test_bad_agent_yaml_and_env_exit_2_naming_their_own_file(home: Path, capsys: pytest.CaptureFixture) -> None:
    (home / "agent.yaml").write_text("proposals_per_cal: 3\n")
    assert run_cli(_at(home, ["agent", "propose", "--offline", "--dry-run"])) == 2
    assert "agent.yaml" in capsys.readouterr().err
    (home / "agent.yaml").unlink()
    (home / ".env").write_text("this is not a key value line\n")
    assert run_cli(_at(home, ["agent", "status"])) == 2
    err = capsys.readouterr().err
    assert ".env line 1" in err and "agent.yaml" not in err
