#!/usr/bin/python3
"""load_into benchmark: safeckpt.load_into against load_file + load_state_dict.

Generates a checkpoint of --gib GiB (Linear weights of [4096, 4096] in
--checkpoint-dtype, one file) and a torch model of the same weights in
--model-dtype, then measures in one run, each case in a fresh process:
  - safeckpt.load_into(model, checkpoint): reads into the model's tensors;
  - model.load_state_dict(safeckpt.torch.load_file(checkpoint)): reads
    every tensor into new memory, then copies it into the model, as code
    written for the safetensors package does.
The model's parameters are written once before the load, as an
initialized model's are, and the page cache is warm (the file is read once
before the runs). Prints seconds and the peak RSS during the load (VmHWM,
reset after building the model) per case, the best and the median of
--repeat runs, and the RSS of the model alone.

Usage: /usr/bin/python3 bench/load_into_bench.py [--dir DIR] [--gib 1] [--repeat 3]
       [--checkpoint-dtype bfloat16] [--model-dtype bfloat16] [--build build]
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIDE = 4096
CASES = ("load_into", "load_file+load_state_dict")


def layer_count(gib, dtype):
    import torch

    element_size = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    return max(1, round(gib * (1 << 30) / (SIDE * SIDE * element_size)))


def build_model(layers, dtype):
    """Build a model of `layers` Linear layers and write each weight once."""
    import torch

    model = torch.nn.Sequential(*[
        torch.nn.utils.skip_init(torch.nn.Linear, SIDE, SIDE, bias=False,
                                 dtype=getattr(torch, dtype))
        for _ in range(layers)
    ])
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return model


def write_checkpoint(path, layers, dtype):
    import torch

    import safeckpt.torch as st

    generator = torch.Generator().manual_seed(0)
    tensors = {f"{index}.weight": torch.randn(SIDE, SIDE, generator=generator).to(getattr(torch, dtype))
               for index in range(layers)}
    st.save_file(tensors, path, metadata={"format": "pt"})


def warm(path):
    with open(path, "rb") as handle:
        while handle.read(16 << 20):
            pass


def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def reset_peak_rss():
    """Set the peak RSS (VmHWM) to the current RSS, as Linux 4.0 and later allow."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("/proc/self/status has no VmHWM line")


def run_case(case, checkpoint, layers, model_dtype):
    """Run one case in this process and return its measurements."""
    import torch

    import safeckpt
    import safeckpt.torch as st

    model = build_model(layers, model_dtype)
    model_rss = rss_mib()
    # Building the model peaks above its final size, so the peak is measured
    # from here on.
    reset_peak_rss()
    start = time.perf_counter()
    if case == "load_into":
        safeckpt.load_into(model, checkpoint).raise_if_failed()
    else:
        model.load_state_dict(st.load_file(checkpoint))
    seconds = time.perf_counter() - start

    with safeckpt.safe_open(checkpoint, framework="pt") as f:
        expected = f.get_slice("0.weight")[:4].to(getattr(torch, model_dtype))
    assert torch.equal(model[0].weight[:4], expected), "loaded values differ from the file"
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "model_rss_mib": model_rss}


def run_child(arguments, case, checkpoint, layers):
    command = [sys.executable, __file__, "--child", case, "--child-checkpoint", str(checkpoint),
               "--child-layers", str(layers), "--model-dtype", arguments.model_dtype,
               "--build", str(arguments.build)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def summarize(case, runs, gib):
    seconds = sorted(run["seconds"] for run in runs)
    return (f"| {case} | {seconds[0]:.3f} | {statistics.median(seconds):.3f} | "
            f"{gib / seconds[0]:.2f} | {max(run['peak_rss_mib'] for run in runs):.0f} | "
            f"{statistics.median(run['model_rss_mib'] for run in runs):.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=pathlib.Path, help="where the checkpoint is written "
                        "(default: a temporary directory)")
    parser.add_argument("--gib", type=float, default=1.0, help="checkpoint size in GiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case")
    parser.add_argument("--checkpoint-dtype", default="bfloat16", help="torch dtype of the file")
    parser.add_argument("--model-dtype", default="bfloat16", help="torch dtype of the model")
    parser.add_argument("--build", type=pathlib.Path, default=ROOT / "build",
                        help="build directory whose python/ contains the safeckpt package")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--child-checkpoint", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-layers", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    sys.path.insert(0, str(arguments.build / "python"))

    if arguments.child:
        print(json.dumps(run_case(arguments.child, arguments.child_checkpoint,
                                  arguments.child_layers, arguments.model_dtype)))
        return

    layers = layer_count(arguments.gib, arguments.checkpoint_dtype)
    with tempfile.TemporaryDirectory(prefix="safeckpt-load-into-") as temporary:
        directory = arguments.dir or pathlib.Path(temporary)
        directory.mkdir(parents=True, exist_ok=True)
        checkpoint = directory / f"load_into_{arguments.checkpoint_dtype}_{layers}.safetensors"
        if not checkpoint.exists():
            write_checkpoint(checkpoint, layers, arguments.checkpoint_dtype)
        gib = checkpoint.stat().st_size / (1 << 30)
        warm(checkpoint)

        runs = {case: [] for case in CASES}
        for _ in range(arguments.repeat):
            for case in CASES:
                runs[case].append(run_child(arguments, case, checkpoint, layers))

    print(f"checkpoint: {gib:.2f} GiB {arguments.checkpoint_dtype}, {layers} tensors of "
          f"[{SIDE}, {SIDE}]; model {arguments.model_dtype}; warm cache; "
          f"{arguments.repeat} runs per case")
    print("| case | best s | median s | GiB/s (best) | peak RSS MiB | model alone MiB |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        print(summarize(case, runs[case], gib))


if __name__ == "__main__":
    main()
