"""safeckpt: strict safetensors checkpoints for PyTorch and numpy.

    import safeckpt.torch as st        # in place of: import safetensors.torch as st
    tensors = st.load_file("model.safetensors")

    report = safeckpt.load_into(model, "checkpoint_dir")   # in place, no second copy
    print(report)                                          # the command's text report
    report.raise_if_failed()

The compatible surface is safe_open here and the safeckpt.torch and
safeckpt.numpy modules. Every file is validated by the same reader as the
safeckpt command (docs/format.md), and errors raise SafeckptError with the
library's message.
"""

import sys

if sys.byteorder != "little":
    # NOTE: tensors are read as the file stores them, little-endian, and
    # handed to torch and numpy as native values.
    raise ImportError("safeckpt supports little-endian hosts only")

from ._core import SafeckptError, SafeckptFileNotFoundError  # noqa: E402
from ._load_into import LoadRejectedError, LoadReport, check, load_into, manifest_from  # noqa: E402
from ._safe_open import TensorSlice, safe_open  # noqa: E402

# The safetensors package's name for its error, for code that catches it.
SafetensorError = SafeckptError

__version__ = "0.1.0"

__all__ = [
    "LoadRejectedError",
    "LoadReport",
    "SafeckptError",
    "SafeckptFileNotFoundError",
    "SafetensorError",
    "TensorSlice",
    "check",
    "load_into",
    "manifest_from",
    "safe_open",
]
