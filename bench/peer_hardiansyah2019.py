#!/usr/bin/python3
"""Independent SciPy peer for the hardiansyah2019 throughput benchmark (published model P1,
shared/spec/published-models.md).

  scipy_lsoda  one 60-day simulation of the 8-state model at its published values (patient UPN3) with UPN3's split
               dose (10/30/60 % of 1.4e7 cells on days 0, 1, 2), outputs every --step days, with
               scipy.integrate.solve_ivp(method="LSODA") restarted at each dose, repeated --repeats times; the
               rate is solves / total wall time of the repeats. Same tolerances as cartpk's defaults (rtol 1e-8,
               absolute 1e-12 x each state's typical scale).

The equations come from tests/python/hardiansyah2019_reference.py, written from the spec alone (no code shared
with cartpk). Prints one JSON object on stdout:
  {"scipy_lsoda": {"solves", "seconds", "solves_per_second"},
   "check": {"times": [...], "bcell": [...], "cart_blood": [...], "il6": [...], "il10": [...], "ifng": [...]},
   "meta": {...}}
"check" comes from a tight reference solve (LSODA rtol 1e-12, atol 1e-20; agrees with Radau to ~1e-10).
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import hardiansyah2019_reference as hr  # noqa: E402

# Typical magnitude of each state (STATES order): B ~1 (1e9 cells), blood CAR-T ~1e-2, tissue CAR-T ~1e-1 (1e9
# cells), cytokines ~1 pg/mL at baseline; the same scales cartpk's table gives, so both get the same absolute
# tolerances.
STATE_SCALES = np.array([1.0, 1e-2, 1e-1, 1e-2, 1e-1, 1.0, 1.0, 1.0])
REF_RTOL, REF_ATOL = 1e-12, 1e-20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20, help="number of timed solves (default 20)")
    ap.add_argument("--end", type=float, default=60.0, help="last output day (default 60)")
    ap.add_argument("--step", type=float, default=0.25, help="output step in days (default 0.25)")
    ap.add_argument("--rtol", type=float, default=1e-8, help="LSODA relative tolerance (default 1e-8)")
    ap.add_argument("--atol-scale", type=float, default=1e-12,
                    help="absolute tolerance per unit of each state's typical scale (default 1e-12)")
    ap.add_argument("--check-times", default="7,14,21,28,60", help="comma-separated check days")
    args = ap.parse_args()
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")

    times = np.arange(0.0, args.end + 1e-9, args.step)
    p = hr.params()
    atol = args.atol_scale * STATE_SCALES
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        hr.solve(times, p, rtol=args.rtol, atol=atol, method="LSODA")
    seconds = time.perf_counter() - t0

    check_times = np.array([float(s) for s in args.check_times.split(",")])
    obs = hr.observables(hr.solve(check_times, p, rtol=REF_RTOL, atol=REF_ATOL))
    result = {
        "scipy_lsoda": {"solves": args.repeats, "seconds": seconds,
                        "solves_per_second": args.repeats / seconds if seconds > 0 else None},
        "check": {"times": check_times.tolist(), **{k: v.tolist() for k, v in obs.items()}},
        "meta": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                 "rtol": args.rtol, "atol_scale": args.atol_scale, "times": len(times),
                 "doses": [list(d) for d in hr.UPN3_DOSES]},
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
