"""The benchmark checkpoint and the command-line options that describe it,
shared by the load and shard benchmarks."""

import os
import pathlib
import subprocess


def add_checkpoint_arguments(parser):
    """Adds --dir, --gib, --shards and --repeat to an argparse parser."""
    parser.add_argument("--dir", default="/tmp/safeckpt-bench",
                        help="where the checkpoint is generated, once (default %(default)s)")
    parser.add_argument("--gib", type=float, default=2.0,
                        help="checkpoint size in GiB when generating (default %(default)s)")
    parser.add_argument("--shards", type=int, default=4,
                        help="shard files when generating (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per case; best and median are printed (default %(default)s)")


def ensure_checkpoint(build, args):
    """Generates the checkpoint with safeckpt-make-bench unless it exists.

    Returns (bench directory, checkpoint directory, sorted shard paths)."""
    bench_dir = pathlib.Path(args.dir)
    checkpoint = bench_dir / "checkpoint"
    if not (checkpoint / "model.safetensors.index.json").exists():
        subprocess.run([str(pathlib.Path(build) / "safeckpt-make-bench"), str(bench_dir), "--gib",
                        str(args.gib), "--shards", str(args.shards)], check=True)
    files = sorted(str(p) for p in checkpoint.glob("*.safetensors"))
    return bench_dir, checkpoint, files


def peak_rss_mib(path):
    """Reads the peak RSS that `/usr/bin/time -f %M -o PATH` wrote, in MiB."""
    with open(path) as handle:
        return int(handle.read().strip().splitlines()[-1]) / 1024


def total_bytes(files):
    """Returns the summed size of `files` in bytes."""
    return sum(os.path.getsize(f) for f in files)
