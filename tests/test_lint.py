"""The linter, the formatter and the type checker, as configured in pyproject.toml, find nothing in
lfe (and ruff nothing in the tests, benchmarks and examples either)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "--no-cache", "lfe", "tests", "benchmarks", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_everything_as_it_is() -> None:
    result = _run(
        "ruff", "format", "--check", "--no-cache", "lfe", "tests", "benchmarks", "examples"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = _run("mypy", "--cache-dir", "/dev/null")
    assert result.returncode == 0, result.stdout + result.stderr
