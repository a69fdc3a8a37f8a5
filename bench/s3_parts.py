"""Peak memory and rate of one S3 upload through the store's writer, per part size.

Starts a SeaweedFS of its own, then for each part size (16, 128 and 1024 MiB by default:
the default first part, a middle step, and the largest step of the growing schedule) runs
a child process that writes two full parts and 1 MiB more through S3Store's writer, in
1 MiB pieces like a backup's encrypted chunks, and reports its peak RSS above the RSS it
had before the first byte (VmHWM minus VmRSS from /proc/self/status), the peak's ratio to
the part size, and the upload rate. The writer holds the part being filled or uploaded and
at most 32 queued pieces, so the peak should be about one part plus 32 MiB; the PASS line
checks peak <= 1.25 x part + 64 MiB. Each size runs --runs times; medians are printed.

Usage: .venv/bin/python bench/s3_parts.py [--sizes 16,128,1024] [--runs 3] [--json]
SeaweedFS keeps its data in bench/.cache/s3_parts/ (gitignored), removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache" / "s3_parts"
BUCKET = "bench-parts"
MIB = 1 << 20
sys.path.insert(0, str(ROOT))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(part_mib: int, endpoint: str, access: str, secret: str) -> None:
    from dr_assets.core.policy import DestinationConfig
    from dr_assets.core.stores.parts import PartSchedule
    from dr_assets.core.stores.s3 import S3Store

    part = part_mib * MIB
    store = S3Store(DestinationConfig(name="bench", kind="s3", bucket=BUCKET, prefix="bench",
                                      endpoint_url=endpoint, access_key_id=access,
                                      secret_access_key=secret),
                    parts=PartSchedule(first=part, largest=part, grows=False))
    store.check()
    base = os.urandom(MIB)
    total = 2 * part + MIB
    before = _status_kib("VmRSS")
    start = time.monotonic()
    writer = store.open_writer(f"object-{part_mib}")
    for i in range(total // MIB):
        writer.write(base[i % MIB:] + base[: i % MIB])  # a new 1 MiB object each time
    writer.commit()
    wall = time.monotonic() - start
    peak = _status_kib("VmHWM") - before
    store.delete(f"object-{part_mib}")
    print(json.dumps({"part_mib": part_mib, "object_mib": total / MIB,
                      "peak_mib": peak / 1024, "seconds": wall}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,128,1024", help="part sizes in MiB")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(int(args.child[0]), *args.child[1:])
        return 0

    from dr_assets.devstack import seaweed

    shutil.rmtree(CACHE, ignore_errors=True)
    server = seaweed.start(CACHE, buckets=(BUCKET,))
    results: list[dict[str, float]] = []
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        for r in range(args.runs):
            for part_mib in sizes if r % 2 == 0 else reversed(sizes):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(part_mib), server.endpoint,
                     server.access_key, server.secret_key],
                    capture_output=True, text=True, timeout=900)
                if out.returncode != 0:
                    raise SystemExit(f"child for {part_mib} MiB failed: {out.stderr[-2000:]}")
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        seaweed.stop(server.pid)
        shutil.rmtree(CACHE, ignore_errors=True)

    summary = []
    ok = True
    for part_mib in sizes:
        mine = [x for x in results if x["part_mib"] == part_mib]
        peak = statistics.median(x["peak_mib"] for x in mine)
        rate = statistics.median(x["object_mib"] / x["seconds"] for x in mine)
        passed = peak <= 1.25 * part_mib + 64
        ok = ok and passed
        summary.append({"part_mib": part_mib, "object_mib": mine[0]["object_mib"],
                        "peak_mib": round(peak, 1), "peak_per_part": round(peak / part_mib, 2),
                        "mib_per_s": round(rate, 1), "pass": passed})
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{'part MiB':>9} {'object MiB':>11} {'peak MiB':>9} {'peak/part':>10} {'MiB/s':>7}")
        for s in summary:
            print(f"{s['part_mib']:>9} {s['object_mib']:>11.0f} {s['peak_mib']:>9.1f} "
                  f"{s['peak_per_part']:>10.2f} {s['mib_per_s']:>7.1f}")
        for s in summary:
            verdict = "PASS" if s["pass"] else "FAIL"
            print(f"{verdict} peak RSS of a {s['part_mib']} MiB part upload: {s['peak_mib']} MiB "
                  f"<= 1.25 x part + 64 MiB ({1.25 * s['part_mib'] + 64:.0f} MiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
