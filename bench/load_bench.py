#!/usr/bin/env python3
"""Load benchmark: safeckpt load against dd over the same files, warm and cold.

Generates a BF16 checkpoint (default 2 GiB, 4 shards) with
build/safeckpt-make-bench, then measures in one run:
  - dd bs=16M of=/dev/null over every shard (the machine's own limit),
  - safeckpt load with the same dtype (reads straight into destinations),
  - safeckpt load BF16 -> F32 (staging buffers and conversion),
each with a warm page cache and cold (pages evicted with
posix_fadvise(POSIX_FADV_DONTNEED)).

Each safeckpt case runs twice: into fresh destination memory (the whole
process is timed, page faults on new memory included) and with --prefault,
as a model whose parameters are already initialized (the load phase from the
JSON report is timed). Prints seconds, GiB/s of checkpoint data, the ratio to
dd and peak RSS (from /usr/bin/time) for every case, best and median of
--repeat runs.

Usage: bench/load_bench.py [--dir DIR] [--gib 2] [--repeat 3]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import statistics
import time

from bench_checkpoint import add_checkpoint_arguments, ensure_checkpoint, peak_rss_mib, total_bytes
from page_cache import evict, warm

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def timed(command, load_phase):
    """Runs command under /usr/bin/time; returns (seconds, peak RSS in MiB).

    With load_phase, seconds is the read phase of safeckpt's JSON report
    (reads and conversions, wall time); otherwise the whole process."""
    with tempfile.NamedTemporaryFile("r", prefix="safeckpt-bench-rss-") as rss_file:
        start = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + command,
                                check=True, stdout=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
        rss_mib = peak_rss_mib(rss_file.name)
    if load_phase:
        seconds = json.loads(result.stdout)["phases"]["read"]["seconds"]
    return seconds, rss_mib


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_checkpoint_arguments(parser)
    parser.add_argument("--threads", type=int, default=0,
                        help="safeckpt load --threads; 0 means its default, one per core")
    args = parser.parse_args()

    bench_dir, checkpoint, files = ensure_checkpoint(BUILD, args)
    file_bytes = total_bytes(files)
    gib = file_bytes / (1 << 30)

    dd = ["sh", "-c", "for f in \"$@\"; do dd if=\"$f\" of=/dev/null bs=16M status=none; done", "dd"] + files
    load = [str(BUILD / "safeckpt"), "load", str(checkpoint), "--format", "json"]
    if args.threads:
        load += ["--threads", str(args.threads)]
    same = load + ["--model", str(bench_dir / "bf16.json")]
    wide = load + ["--model", str(bench_dir / "f32.json")]
    # (name, command, time the load phase only)
    cases = [
        ("dd bs=16M", dd, False),
        ("load same dtype, fresh", same, False),
        ("load same dtype, prefault", same + ["--prefault"], True),
        ("load BF16->F32, fresh", wide, False),
        ("load BF16->F32, prefault", wide + ["--prefault"], True),
    ]

    print(f"checkpoint: {checkpoint} ({len(files)} files, {gib:.2f} GiB), "
          f"{os.cpu_count()} cores, {args.repeat} runs per case")
    results = {}
    for cache in ("warm", "cold"):
        for name, command, load_phase in cases:
            runs = []
            for _ in range(args.repeat):
                if cache == "warm":
                    warm(files)
                else:
                    evict(files)
                runs.append(timed(command, load_phase))
            results[(cache, name)] = runs

    print(f"{'cache':<5} {'case':<26} {'best s':>7} {'median s':>8} {'GiB/s':>6} "
          f"{'vs dd':>6} {'median vs dd':>12} {'peak RSS MiB':>12}")
    for (cache, name), runs in results.items():
        best = min(seconds for seconds, _ in runs)
        median = statistics.median(seconds for seconds, _ in runs)
        rss = max(rss for _, rss in runs)
        dd_runs = results[(cache, "dd bs=16M")]
        dd_best = min(seconds for seconds, _ in dd_runs)
        dd_median = statistics.median(seconds for seconds, _ in dd_runs)
        print(f"{cache:<5} {name:<26} {best:>7.3f} {median:>8.3f} {gib / best:>6.2f} "
              f"{dd_best / best:>6.2f} {dd_median / median:>12.2f} {rss:>12.0f}")
    print(f"destination bytes: same dtype {file_bytes / (1 << 20):.0f} MiB, "
          f"F32 {2 * file_bytes / (1 << 20):.0f} MiB (file sizes, headers included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
