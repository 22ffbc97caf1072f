"""Instructions per upload of the first 1,000 Online Retail invoices, counted by valgrind.

On the shared 2-core machine the wall and CPU times of one upload swing by +-15% with the other
sessions' load, more than a change of a few milliseconds. The instructions a process executes do
not depend on that load, so this counts them: for each tree, callgrind runs one process that
makes 2 warm-up uploads and one that makes 2 + ``--uploads``; the difference over ``--uploads``
is one upload's instructions (imports, data preparation and warm-up cancel out). The upload is
``bench/upload_bench.py``'s ``upload()`` of the tree under test, on inputs built once here (the
same bytes for every tree). Trees are checkouts of this repository (``git worktree add`` or
``git archive``), run with this checkout's venv; each child takes ~2-4 minutes under valgrind.

    .venv/bin/python bench/upload_instructions.py [--uploads 4] [TREE ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = """
import sys
tree, inputs, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, tree)
sys.argv = sys.argv[:1]
from pathlib import Path
import bench.upload_bench as ub
catalog, orders = Path(inputs, "catalog.csv").read_bytes(), Path(inputs, "orders.csv").read_bytes()
for _ in range(2 + n):
    ub.upload(("generic", catalog), ("online_retail", orders))
"""


def instructions(tree: Path, inputs: Path, uploads: int, out: Path) -> int:
    """Instructions callgrind counted for one child process making 2 + ``uploads`` uploads."""
    # one hash seed: string hashing decides dict probing, which moves the count by ~1% per run
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            CHILD,
            str(tree),
            str(inputs),
            str(uploads),
        ],
        check=True,
        env=env,
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("trees", nargs="*", type=Path, help="checkouts to compare (default: this one)")
    ap.add_argument("--uploads", type=int, default=4, help="counted uploads per tree")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    from bench.upload_bench import online_retail_inputs

    trees = [t.resolve() for t in args.trees] or [REPO]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, catalog, orders = online_retail_inputs(1000)
        (work / "catalog.csv").write_bytes(catalog)
        (work / "orders.csv").write_bytes(orders)
        per_upload: dict[Path, float] = {}
        for tree in trees:
            base = instructions(tree, work, 0, work / "base.out")
            more = instructions(tree, work, args.uploads, work / "more.out")
            per_upload[tree] = (more - base) / args.uploads
            print(f"{tree}: {per_upload[tree] / 1e6:,.1f} M instructions per upload", flush=True)
    first = per_upload[trees[0]]
    for tree in trees[1:]:
        print(f"{tree} / {trees[0]}: {per_upload[tree] / first:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
