#!/usr/bin/env python3
"""Load benchmark: safeckpt load against dd over the same files, warm and cold.

Generates a BF16 checkpoint (default 2 GiB, 4 shards) with
build/safeckpt-make-bench, then measures in one run:
  - dd bs=16M of=/dev/null over every shard (the machine's own limit),
  - safeckpt load with the same dtype (reads straight into destinations),
  - safeckpt load BF16 -> F32 (staging buffers and conversion),
each with a warm page cache and cold (pages evicted with
posix_fadvise(POSIX_FADV_DONTNEED)). Prints seconds, GiB/s, the ratio to dd
and peak RSS (from /usr/bin/time) for every case.

Usage: bench/load_bench.py [--dir DIR] [--gib 2] [--repeat 3]
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def evict(files):
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(files):
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(16 << 20):
                pass


def timed(command):
    """Runs command under /usr/bin/time; returns (seconds, peak RSS in MiB)."""
    rss_file = "/tmp/safeckpt-bench-rss"
    start = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + command,
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(rss_file) as handle:
        rss_kib = int(handle.read().strip().splitlines()[-1])
    return seconds, rss_kib / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/safeckpt-bench")
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    bench_dir = pathlib.Path(args.dir)
    checkpoint = bench_dir / "checkpoint"
    if not (checkpoint / "model.safetensors.index.json").exists():
        subprocess.run([str(BUILD / "safeckpt-make-bench"), str(bench_dir), "--gib", str(args.gib),
                        "--shards", str(args.shards)], check=True)
    files = sorted(str(p) for p in checkpoint.glob("*.safetensors"))
    total_bytes = sum(os.path.getsize(f) for f in files)
    gib = total_bytes / (1 << 30)

    dd = ["sh", "-c", "for f in \"$@\"; do dd if=\"$f\" of=/dev/null bs=16M status=none; done", "dd"] + files
    load = [str(BUILD / "safeckpt"), "load", str(checkpoint)]
    if args.threads:
        load += ["--threads", str(args.threads)]
    cases = [
        ("dd bs=16M", dd),
        ("safeckpt load, same dtype", load + ["--model", str(bench_dir / "bf16.json")]),
        ("safeckpt load, BF16 -> F32", load + ["--model", str(bench_dir / "f32.json")]),
    ]

    print(f"checkpoint: {checkpoint} ({len(files)} files, {gib:.2f} GiB), "
          f"{os.cpu_count()} cores, best of {args.repeat}")
    results = {}
    for cache in ("warm", "cold"):
        for name, command in cases:
            best = None
            for _ in range(args.repeat):
                if cache == "warm":
                    warm(files)
                else:
                    evict(files)
                seconds, rss = timed(command)
                if best is None or seconds < best[0]:
                    best = (seconds, rss)
            results[(cache, name)] = best

    print(f"{'cache':<6} {'case':<28} {'seconds':>8} {'GiB/s':>7} {'vs dd':>6} {'peak RSS MiB':>13}")
    for (cache, name), (seconds, rss) in results.items():
        dd_seconds = results[(cache, "dd bs=16M")][0]
        print(f"{cache:<6} {name:<28} {seconds:>8.3f} {gib / seconds:>7.2f} "
              f"{dd_seconds / seconds:>6.2f} {rss:>13.0f}")
    print(f"destination bytes: same dtype {total_bytes / (1 << 20):.0f} MiB, "
          f"F32 {2 * total_bytes / (1 << 20):.0f} MiB (header bytes included in the file size)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
