#!/usr/bin/python3
"""Independent SciPy peer for the muellerschoell2021 throughput benchmark (published model P3,
shared/spec/published-models.md).

  scipy_lsoda  one 365-day simulation of the 5-state model (TN, TCM, TEM, TEff, tumour) at its published values
               (reference class, median baseline tumour 85.7 mL, 0.1 cells/µL per phenotype at t = 0), outputs every
               --step days, with scipy.integrate.solve_ivp(method="LSODA", with the exact Jacobian), repeated
               --repeats times; the rate is solves / total wall time of the repeats. Same tolerances as cartpk's
               defaults (rtol 1e-8, absolute 1e-12 x each state's typical scale: 1 cell/µL, 100 mL).

The equations come from tests/python/muellerschoell2021_reference.py, written from the spec alone (no code shared
with cartpk). Prints one JSON object on stdout:
  {"scipy_lsoda": {"solves", "seconds", "solves_per_second"},
   "check": {"times": [...], "tn": [...], "tcm": [...], "tem": [...], "teff": [...], "cart": [...], "tumor": [...]},
   "meta": {...}}
"check" comes from a tight reference solve (LSODA rtol 1e-12, atol 1e-22; agrees with Radau to ~1e-11).
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
import muellerschoell2021_reference as ms  # noqa: E402

# Typical magnitude of each state (STATES order), the same scales cartpk's table gives, so both get the same
# absolute tolerances.
STATE_SCALES = np.array([1.0, 1.0, 1.0, 1.0, 100.0])
REF_RTOL, REF_ATOL = 1e-12, 1e-22


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20, help="number of timed solves (default 20)")
    ap.add_argument("--end", type=float, default=365.0, help="last output day (default 365)")
    ap.add_argument("--step", type=float, default=0.25, help="output step in days (default 0.25)")
    ap.add_argument("--rtol", type=float, default=1e-8, help="LSODA relative tolerance (default 1e-8)")
    ap.add_argument("--atol-scale", type=float, default=1e-12,
                    help="absolute tolerance per unit of each state's typical scale (default 1e-12)")
    ap.add_argument("--check-times", default="7,14,28,90,180", help="comma-separated check days")
    args = ap.parse_args()
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")

    times = np.arange(0.0, args.end + 1e-9, args.step)
    p = ms.params()
    atol = args.atol_scale * STATE_SCALES
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        ms.solve(times, p, rtol=args.rtol, atol=atol, method="LSODA")
    seconds = time.perf_counter() - t0

    check_times = np.array([float(s) for s in args.check_times.split(",")])
    obs = ms.observables(ms.solve(check_times, p, rtol=REF_RTOL, atol=REF_ATOL))
    result = {
        "scipy_lsoda": {"solves": args.repeats, "seconds": seconds,
                        "solves_per_second": args.repeats / seconds if seconds > 0 else None},
        "check": {"times": check_times.tolist(), **{k: v.tolist() for k, v in obs.items()}},
        "meta": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                 "rtol": args.rtol, "atol_scale": args.atol_scale, "times": len(times)},
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
