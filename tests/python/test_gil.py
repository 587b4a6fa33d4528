"""Reads and loads release the GIL, so other Python threads run meanwhile."""

import sys
import threading
import time

import torch

import safeckpt
import safeckpt.torch as st


class Spinner:
    """A thread counting loop iterations, which needs the GIL to advance."""

    def __init__(self):
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.count += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exception):
        self._stop.set()
        self._thread.join()


def progress_during(call, spinner):
    """Return how far the spinner advanced while `call` ran.

    With a switch interval longer than the call, a thread waiting for the
    GIL requests it only after the interval, so the spinner cannot advance
    between the two reads of its count (both with the GIL held) unless the
    call released the GIL. The short sleep first hands the GIL to the
    spinner, so its wait starts with the long interval.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.25)
    try:
        time.sleep(0.001)
        before = spinner.count
        call()
        return spinner.count - before
    finally:
        sys.setswitchinterval(interval)


def test_load_into_and_load_file_release_the_gil(tmp_path):
    # 64 MiB of BF16 converted to F32 on one thread takes tens of ms.
    path = tmp_path / "big.safetensors"
    st.save_file({"w": torch.ones(4096, 8192, dtype=torch.bfloat16)}, path)
    destination = {"w": torch.zeros(4096, 8192)}

    with Spinner() as spinner:
        # The control: bytes.count holds the GIL, so the spinner stays put.
        zeros = bytes(16 << 20)
        assert progress_during(lambda: zeros.count(b"x"), spinner) == 0
        assert progress_during(lambda: safeckpt.load_into(destination, path, threads=1), spinner) > 0
        assert progress_during(lambda: st.load_file(path), spinner) > 0
        data = path.read_bytes()
        assert progress_during(lambda: st.load(data), spinner) > 0
    assert torch.equal(destination["w"], torch.ones(4096, 8192))
