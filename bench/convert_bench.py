#!/usr/bin/env python3
"""Convert benchmark: safeckpt convert against cp of the same files, warm and cold.

Generates a BF16 checkpoint (default 2 GiB in 64 tensors, 4 shards) with
safeckpt-make-bench, then measures in one run:
  - cp of every shard into an empty directory (no fsync),
  - cp followed by sync of the copies (the data is on disk when it returns,
    as it is when safeckpt convert returns),
  - safeckpt convert into 3 shards, same dtype (copy_file_range),
  - safeckpt convert into 3 shards with --dtype F16 (BF16 to F16 conversion
    through buffers; the output has the same size),
each with a warm page cache (source files read once before each run) and
cold (source pages evicted with posix_fadvise(POSIX_FADV_DONTNEED)). The
destination is deleted before every run and the deletion is not timed.

Prints seconds, GiB/s of file bytes, the rate relative to cp and to cp plus
sync, and peak RSS (from /usr/bin/time), best and median of --repeat runs.

Usage: bench/convert_bench.py [--dir DIR] [--gib 2] [--repeat 3] [--build build]
"""

import argparse
import json
import math
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from page_cache import evict, warm

ROOT = pathlib.Path(__file__).resolve().parent.parent


def timed(command):
    """Runs command under /usr/bin/time; returns (seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", prefix="safeckpt-bench-rss-") as rss_file:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + command,
                       check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        rss_kib = int(rss_file.read().strip().splitlines()[-1])
    return seconds, rss_kib / 1024


def three_shard_size(checkpoint):
    """Return the --max-shard-size that splits the benchmark's equal tensors into 3 files."""
    with open(checkpoint / "model.safetensors.index.json") as handle:
        index = json.load(handle)
    count = len(index["weight_map"])
    tensor_bytes = index["metadata"]["total_size"] // count
    return math.ceil(count / 3) * tensor_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/safeckpt-convert-bench")
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--build", default=str(ROOT / "build"), help="build directory with safeckpt and safeckpt-make-bench (default: build)")
    args = parser.parse_args()

    build = pathlib.Path(args.build)
    bench_dir = pathlib.Path(args.dir)
    checkpoint = bench_dir / "checkpoint"
    if not (checkpoint / "model.safetensors.index.json").exists():
        subprocess.run([str(build / "safeckpt-make-bench"), str(bench_dir), "--gib", str(args.gib),
                        "--shards", "4"], check=True)
    files = sorted(str(p) for p in checkpoint.glob("*.safetensors"))
    gib = sum(os.path.getsize(f) for f in files) / (1 << 30)
    out = bench_dir / "out"

    cp = ["sh", "-c", 'out="$1"; shift; mkdir "$out" && cp "$@" "$out"', "cp", str(out)] + files
    cp_sync = ["sh", "-c", 'out="$1"; shift; mkdir "$out" && cp "$@" "$out" && sync "$out"/*',
               "cp", str(out)] + files
    convert = [str(build / "safeckpt"), "convert", str(checkpoint), str(out),
               "--max-shard-size", str(three_shard_size(checkpoint))]
    if args.threads:
        convert += ["--threads", str(args.threads)]
    cases = [
        ("cp", cp),
        ("cp + sync", cp_sync),
        ("convert 3 shards", convert),
        ("convert 3 shards --dtype F16", convert + ["--dtype", "F16"]),
    ]

    print(f"checkpoint: {checkpoint} ({len(files)} files, {gib:.2f} GiB), "
          f"{os.cpu_count()} cores, {args.repeat} runs per case")
    results = {}
    for cache in ("warm", "cold"):
        for name, command in cases:
            runs = []
            for _ in range(args.repeat):
                shutil.rmtree(out, ignore_errors=True)
                subprocess.run(["sync"], check=True)
                if cache == "warm":
                    warm(files)
                else:
                    evict(files)
                runs.append(timed(command))
            results[(cache, name)] = runs
    shutil.rmtree(out, ignore_errors=True)

    print(f"{'cache':<5} {'case':<30} {'best s':>7} {'median s':>8} {'GiB/s':>6} "
          f"{'vs cp':>6} {'vs cp+sync':>10} {'peak RSS MiB':>12}")
    for (cache, name), runs in results.items():
        best = min(seconds for seconds, _ in runs)
        median = statistics.median(seconds for seconds, _ in runs)
        rss = max(rss for _, rss in runs)
        cp_median = statistics.median(s for s, _ in results[(cache, "cp")])
        sync_median = statistics.median(s for s, _ in results[(cache, "cp + sync")])
        print(f"{cache:<5} {name:<30} {best:>7.3f} {median:>8.3f} {gib / median:>6.2f} "
              f"{cp_median / median:>6.2f} {sync_median / median:>10.2f} {rss:>12.0f}")
    print("rates and ratios use medians; a ratio above 1 is faster than the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
