"""The README's way of installing the package into a virtual environment."""

import os
import pathlib
import subprocess
import sys

import pytest

from conftest import BUILD_DIR


def test_install_into_virtual_environment(tmp_path):
    if not (BUILD_DIR / "cmake_install.cmake").exists():
        pytest.fail(f"{BUILD_DIR} is not a configured build directory")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True)

    subprocess.run(["cmake", "--install", str(BUILD_DIR), "--component", "python", "--prefix",
                    str(venv)], check=True, capture_output=True)

    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import safeckpt, safeckpt.torch, safeckpt.numpy; print(safeckpt.__file__)"],
        check=True, capture_output=True, text=True, env=environment, cwd=tmp_path)
    installed = pathlib.Path(result.stdout.strip())
    assert installed.is_relative_to(venv)
    assert (installed.parent / "torch.py").exists()
