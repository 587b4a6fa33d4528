#!/usr/bin/env python3
"""Sharded load benchmark: four processes each loading its FSDP2 row shard
against one process loading the whole checkpoint, warm and cold.

Uses the BF16 checkpoint of bench/load_bench.py (default 2 GiB, 4 shards,
generated with build/safeckpt-make-bench when absent) and its bf16.json
manifest, plus a copy of that manifest with "world_size" 4 and every tensor
sharded along dimension 0. In one run it measures:
  - one process: safeckpt load of every tensor;
  - four processes started together, rank 0 to 3, each loading its rows;
    the wall time is from the first start to the last exit,
each with a warm page cache and cold (pages evicted with
posix_fadvise(POSIX_FADV_DONTNEED)). For every rank it prints the bytes
read (from the JSON report), the rank's share of the tensor bytes, and the
peak RSS (from /usr/bin/time).

Usage: bench/shard_bench.py [--dir DIR] [--gib 2] [--repeat 3] [--world-size 4] [--build DIR]
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

from bench_checkpoint import add_checkpoint_arguments, ensure_checkpoint, peak_rss_mib, total_bytes
from page_cache import evict, warm

ROOT = pathlib.Path(__file__).resolve().parent.parent


def start(command, rss_path):
    return subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_path] + command,
                            stdout=subprocess.PIPE, text=True)


def run_together(commands):
    """Starts every command at once; returns (wall seconds, [(report, peak RSS MiB)])."""
    with tempfile.TemporaryDirectory(prefix="safeckpt-shard-bench-") as scratch:
        rss_paths = [os.path.join(scratch, f"rss-{index}") for index in range(len(commands))]
        began = time.perf_counter()
        processes = [start(command, rss) for command, rss in zip(commands, rss_paths)]
        outputs = [process.communicate()[0] for process in processes]
        seconds = time.perf_counter() - began
        results = []
        for process, output, rss in zip(processes, outputs, rss_paths):
            if process.returncode != 0:
                raise RuntimeError(f"safeckpt load exited with {process.returncode}")
            results.append((json.loads(output), peak_rss_mib(rss)))
    return seconds, results


def sharded_manifest(bench_dir, world_size):
    manifest = json.loads((bench_dir / "bf16.json").read_text())
    manifest["world_size"] = world_size
    manifest["sharding"] = [{"pattern": ".", "shard": {"dim": 0}}]
    path = bench_dir / f"bf16-rows-{world_size}.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_checkpoint_arguments(parser)
    parser.add_argument("--world-size", type=int, default=4,
                        help="processes of the sharded case (default %(default)s)")
    parser.add_argument("--build", default=str(ROOT / "build"),
                        help="build directory with safeckpt and safeckpt-make-bench "
                             "(default %(default)s)")
    args = parser.parse_args()
    build = pathlib.Path(args.build)

    bench_dir, checkpoint, files = ensure_checkpoint(build, args)
    file_bytes = total_bytes(files)
    rows = sharded_manifest(bench_dir, args.world_size)

    cores = os.cpu_count() or 1
    per_rank_threads = max(1, cores // args.world_size)
    load = [str(build / "safeckpt"), "load", str(checkpoint), "--format", "json"]
    whole = [load + ["--model", str(bench_dir / "bf16.json"), "--threads", str(cores)]]
    ranks = [load + ["--model", str(rows), "--rank", str(rank), "--threads", str(per_rank_threads)]
             for rank in range(args.world_size)]
    cases = [("1 process, whole", whole), (f"{args.world_size} processes, row shards", ranks)]

    print(f"checkpoint: {checkpoint} ({len(files)} files, {file_bytes / (1 << 30):.2f} GiB), "
          f"{cores} cores; one process uses {cores} threads, each rank {per_rank_threads}; "
          f"{args.repeat} runs per case")
    results = {}
    for cache in ("warm", "cold"):
        for name, commands in cases:
            runs = []
            for _ in range(args.repeat):
                if cache == "warm":
                    warm(files)
                else:
                    evict(files)
                runs.append(run_together(commands))
            results[(cache, name)] = runs

    print(f"{'cache':<5} {'case':<26} {'best s':>7} {'median s':>8} {'GiB/s (best)':>12}")
    for (cache, name), runs in results.items():
        best = min(seconds for seconds, _ in runs)
        median = statistics.median(seconds for seconds, _ in runs)
        print(f"{cache:<5} {name:<26} {best:>7.3f} {median:>8.3f} "
              f"{file_bytes / (1 << 30) / best:>12.2f}")

    print(f"{'cache':<5} {'case':<26} {'rank':>4} {'bytes read':>12} {'share':>12} "
          f"{'read/share':>10} {'peak RSS MiB':>12}")
    for (cache, name), runs in results.items():
        _, reports = runs[-1]
        for rank, (report, rss) in enumerate(reports):
            read = report["phases"]["read"]["bytes"]
            share = report["rank"]["destination_bytes"]
            print(f"{cache:<5} {name:<26} {rank:>4} {read:>12} {share:>12} "
                  f"{read / share if share else 0:>10.4f} {rss:>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
