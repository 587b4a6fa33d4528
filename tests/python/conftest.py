"""Fixtures shared by the Python tests.

CTest runs these tests with PYTHONPATH=<build>/python, SAFECKPT_BUILD_DIR
(for the safeckpt command) and SAFECKPT_SOURCE_DIR set. Tests that need
the real-file corpus (../shared/corpus beside the repository, or
$SAFECKPT_CORPUS) skip when it is absent.
"""

import os
import pathlib
import subprocess

import pytest

SOURCE_DIR = pathlib.Path(
    os.environ.get("SAFECKPT_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2])
)
BUILD_DIR = pathlib.Path(os.environ.get("SAFECKPT_BUILD_DIR", SOURCE_DIR / "build"))


def corpus_dir():
    """Return the corpus directory, or None when it is absent."""
    configured = os.environ.get("SAFECKPT_CORPUS")
    candidate = pathlib.Path(configured) if configured else SOURCE_DIR.parent / "shared" / "corpus"
    return candidate if candidate.is_dir() else None


@pytest.fixture
def corpus():
    directory = corpus_dir()
    if directory is None:
        pytest.skip("../shared/corpus not found; skipping")
    return directory


@pytest.fixture
def safeckpt_command():
    """Run the built safeckpt command; returns a function of its arguments."""
    binary = BUILD_DIR / "safeckpt"
    if not binary.exists():
        pytest.fail(f"{binary} not found; build the safeckpt_cli target (SAFECKPT_BUILD_DIR is "
                    f"{BUILD_DIR})")

    # Under AddressSanitizer the interpreter preloads the shared ASan runtime,
    # which the command, linked with its own copy, must not inherit.
    environment = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}

    def run(*arguments):
        return subprocess.run([str(binary), *map(str, arguments)], capture_output=True,
                              text=True, check=False, env=environment)

    return run
