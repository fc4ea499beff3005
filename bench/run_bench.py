#!/usr/bin/python3
"""`make bench` driver: cartpk throughput against independent Python peers.

Each benchmark is a function in BENCHMARKS that prepares its inputs under <build>/bench/, runs the cartpk
executable and the peers, checks that their predictions agree, prints a table and returns a JSON-able dict.
All results are written together to <build>/bench/results.json. The exit status is 1 if any benchmark fails
(a missing executable, a crashed run, or predictions that disagree).

Benchmarks:
  stein2019   10,000 log-normal parameter sets of the stein2019 model (spec M1) at 12 sampling times:
              bench_stein2019 (closed form / ODE, each with and without sensitivities) against
              bench/peer_stein2019.py (vectorised NumPy closed form; SciPy LSODA ODE in a per-set loop).
  cart_cd19_bcma
              one two-year simulation (daily outputs) of the cart_cd19_bcma model (spec M2) at its defaults,
              repeated: bench_cart_cd19_bcma (CVODES, without and with sensitivities w.r.t. six parameters)
              against bench/peer_cart_cd19_bcma.py (SciPy LSODA on tests/python/m2_reference.py, a
              spec-only reimplementation). Target (the issue's): ode_sens6 >= 100x the SciPy peer.

To add one: write `def bench_<name>(ctx) -> dict` (see Context and bench_stein2019) and append it to BENCHMARKS.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


@dataclass
class Context:
    build: Path    # the CMake build directory (executables live in <build>/bench/)
    out: Path      # <build>/bench: generated inputs and results.json
    args: argparse.Namespace


class BenchError(RuntimeError):
    """A benchmark could not produce results (reported, and the driver exits 1)."""


def run_json(cmd, timeout):
    """Run `cmd` and parse its stdout as one JSON object; stderr is passed through for diagnostics."""
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}")
    if proc.stderr.strip():
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise BenchError(f"exit status {proc.returncode}: {' '.join(map(str, cmd))}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise BenchError(f"output of {cmd[0]} is not JSON ({e}); first 500 characters:\n{proc.stdout[:500]}")


def max_rel_diff(values, reference):
    """Largest |v - r| / |r| over all entries (absolute difference where the reference is exactly 0)."""
    v = np.asarray(values, dtype=float)
    r = np.asarray(reference, dtype=float)
    if v.shape != r.shape:
        raise BenchError(f"check arrays differ in shape: {v.shape} vs {r.shape}")
    diff = np.abs(v - r)
    scale = np.abs(r)
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)
    return float(rel.max()) if rel.size else 0.0


def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def print_table(title, header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(title)
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
    print("  " + line)
    print("  " + "-" * len(line))
    for r in rows:
        print("  " + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))


# --------------------------------------------------------------------------------------------------------------
# stein2019 (spec M1)

STEIN_COLUMNS = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")
# Typical values and omega^2 (variance of the log parameter) from Stein et al. 2019, Table 1, read as variances
# the way nlmixr2lib enters them (see pkmodel/models/biphasic_ck.hpp and the spec's note on this reading).
STEIN_TYPICAL = np.array([3900.0, 9.3, 24000.0, 0.16, 0.0079, 0.0032])
STEIN_OMEGA2 = np.array([2.4, 0.38, 0.65, 0.91, 0.8, 0.86])
# Clips keep every set inside the model's valid region: fb is a fraction (and 0.5 already is extreme), tmax must
# leave a growth phase, and foldx >= 2 keeps rho = ln(foldx)/tmax clearly positive.
STEIN_CLIP = {"foldx": (2.0, 1e7), "tmax": (1.0, 40.0), "fb": (1e-6, 0.5)}
STEIN_SEED = 20191
STEIN_TIMES = (1, 4, 7, 9, 11, 14, 21, 28, 56, 90, 180, 365)  # days
# Paired comparisons: (cartpk case, peer case). Sensitivity cases do more work than their peer (which computes
# no sensitivities), so their ratio is a lower bound on the like-for-like speed-up.
STEIN_PAIRS = (("closed", "numpy_closed"), ("closed_sens", "numpy_closed"),
               ("ode", "scipy_lsoda_ode"), ("ode_sens", "scipy_lsoda_ode"))
CHECK_TOL_WARN = 1e-6  # expected agreement of cartpk with the NumPy closed form
CHECK_TOL_FAIL = 1e-5  # beyond this the benchmark fails


def stein2019_sets(n, seed=STEIN_SEED):
    """n reproducible parameter sets (rows, STEIN_COLUMNS order) and how many values each clip changed."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(STEIN_COLUMNS)))
    sets = STEIN_TYPICAL * np.exp(z * np.sqrt(STEIN_OMEGA2))
    clipped = {}
    for name, (lo, hi) in STEIN_CLIP.items():
        j = STEIN_COLUMNS.index(name)
        clipped[name] = int(np.count_nonzero((sets[:, j] < lo) | (sets[:, j] > hi)))
        sets[:, j] = np.clip(sets[:, j], lo, hi)
    return sets, clipped


def bench_stein2019(ctx):
    a = ctx.args
    sets, clipped = stein2019_sets(a.n_sets)
    sets_csv = ctx.out / "stein2019_sets.csv"
    # %.17g round-trips doubles exactly, so cartpk and the peers see bit-identical parameters.
    np.savetxt(sets_csv, sets, delimiter=",", fmt="%.17g", header=",".join(STEIN_COLUMNS), comments="")
    times = ",".join(str(t) for t in STEIN_TIMES)

    exe = ctx.build / "bench" / "bench_stein2019"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    print(f"stein2019: running {exe.name} on {a.n_sets} sets ...", flush=True)
    cartpk = run_json([exe, "--sets", sets_csv, "--times", times], a.timeout)
    print(f"stein2019: running peer_stein2019.py (LSODA on the first {a.ode_sets} sets) ...", flush=True)
    peer = run_json([sys.executable, HERE / "peer_stein2019.py", "--sets", sets_csv, "--times", times,
                     "--ode-sets", a.ode_sets], a.timeout)

    for case, peer_case in STEIN_PAIRS:
        if case not in cartpk:
            raise BenchError(f"bench_stein2019 output lacks case '{case}'")
        if peer_case not in peer:
            raise BenchError(f"peer_stein2019.py output lacks case '{peer_case}'")

    # Validation: every set of predictions against the NumPy closed form on the first sets.
    ref = peer["check"]["numpy_closed"]
    if not np.allclose(cartpk["check"]["times"], peer["check"]["times"], rtol=0, atol=0):
        raise BenchError(f"check times differ: cartpk {cartpk['check']['times']} vs peer {peer['check']['times']}")
    check = {f"cartpk_{c}": max_rel_diff(cartpk["check"][c], ref) for c in ("closed", "ode")}
    check["scipy_lsoda_ode"] = max_rel_diff(peer["check"]["scipy_lsoda_ode"], ref)  # information only
    worst = max(check["cartpk_closed"], check["cartpk_ode"])

    rows, ratios = [], {}
    for case, peer_case in STEIN_PAIRS:
        r_cartpk = cartpk[case]["sets_per_second"]
        r_peer = peer[peer_case]["sets_per_second"]
        ratio = r_cartpk / r_peer if r_cartpk and r_peer else None
        ratios[f"{case}/{peer_case}"] = ratio
        rows.append([case, cartpk[case]["sets"], fmt_rate(r_cartpk), peer_case, peer[peer_case]["sets"],
                     fmt_rate(r_peer), "-" if ratio is None else f"{ratio:,.1f}x"])
    print()
    print_table(f"stein2019: {len(STEIN_TIMES)} sampling times per set (ratio = cartpk sets/s / peer sets/s)",
                ["cartpk case", "sets", "sets/s", "peer", "sets", "sets/s", "ratio"], rows)
    print("  (the *_sens cases also compute sensitivities, which the peers do not)")
    print(f"  check, max relative difference vs numpy_closed on the first {len(ref)} sets: "
          + ", ".join(f"{k} {v:.2e}" for k, v in check.items()))
    ok = worst <= CHECK_TOL_FAIL
    if not ok:
        print(f"  FAIL: cartpk disagrees with the closed form by {worst:.2e} > {CHECK_TOL_FAIL:g}")
    elif worst > CHECK_TOL_WARN:
        print(f"  warning: cartpk agreement {worst:.2e} is above the expected {CHECK_TOL_WARN:g}")
    print()

    return {
        "ok": ok,
        "inputs": {"sets_file": str(sets_csv), "n_sets": a.n_sets, "seed": STEIN_SEED, "times": list(STEIN_TIMES),
                   "typical": dict(zip(STEIN_COLUMNS, STEIN_TYPICAL.tolist())),
                   "omega2": dict(zip(STEIN_COLUMNS, STEIN_OMEGA2.tolist())),
                   "clip": {k: list(v) for k, v in STEIN_CLIP.items()}, "clipped_counts": clipped},
        "cartpk": cartpk,
        "peer": peer,
        "ratios": ratios,
        "check_max_rel_diff": check,
    }


# --------------------------------------------------------------------------------------------------------------
# cart_cd19_bcma (spec M2)

M2_PAIRS = (("ode", "scipy_lsoda"), ("ode_sens6", "scipy_lsoda"))
M2_TARGET = ("ode_sens6", "scipy_lsoda", 100.0)  # the target: ode_sens6 at least 100x the SciPy peer
M2_CHECK_TIMES = (8, 53, 90, 211, 730)
M2_CHECK_TOL = 1e-4  # relative agreement required of cartpk's check values with the peer's reference values
# Values smaller than these are compared with this absolute scale instead of their own magnitude: flow falls to
# ~4e-14 cells/µL by day 730, 1e-15 of its peak and far below any solver's absolute tolerance there, so its
# relative error is meaningless (1e-6 cells/µL is 1e-7 of the flow peak; B cells and Hb never get this small).
M2_CHECK_FLOOR = {"flow": 1e-6, "bcell": 1e-6, "hb": 1e-6}


def rel_diff_floored(values, reference, floor):
    """Largest |v - r| / max(|r|, floor) over all entries."""
    v = np.asarray(values, dtype=float)
    r = np.asarray(reference, dtype=float)
    if v.shape != r.shape:
        raise BenchError(f"check arrays differ in shape: {v.shape} vs {r.shape}")
    return float((np.abs(v - r) / np.maximum(np.abs(r), floor)).max()) if r.size else 0.0


def bench_cart_cd19_bcma(ctx):
    a = ctx.args
    exe = ctx.build / "bench" / "bench_cart_cd19_bcma"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    print(f"cart_cd19_bcma: running {exe.name} ({a.m2_repeats} solves per case) ...", flush=True)
    cartpk = run_json([exe, "--repeats", a.m2_repeats], a.timeout)
    print(f"cart_cd19_bcma: running peer_cart_cd19_bcma.py ({a.m2_peer_repeats} LSODA solves) ...", flush=True)
    peer = run_json([sys.executable, HERE / "peer_cart_cd19_bcma.py", "--repeats", a.m2_peer_repeats], a.timeout)

    for case, peer_case in M2_PAIRS:
        if case not in cartpk or "solves_per_second" not in cartpk[case]:
            raise BenchError(f"bench_cart_cd19_bcma output lacks case '{case}'")
        if peer_case not in peer or "solves_per_second" not in peer[peer_case]:
            raise BenchError(f"peer_cart_cd19_bcma.py output lacks case '{peer_case}'")
    for name, out in (("bench_cart_cd19_bcma", cartpk), ("peer_cart_cd19_bcma.py", peer)):
        if "check" not in out or list(out["check"].get("times", [])) != list(M2_CHECK_TIMES):
            raise BenchError(f"{name}: check times are not {list(M2_CHECK_TIMES)}")

    # Validation: cartpk's values against the peer's tight SciPy reference at the check times.
    ref = peer["check"]
    check = {}
    for obs, floor in M2_CHECK_FLOOR.items():
        if obs not in cartpk["check"] or obs not in ref:
            raise BenchError(f"check values for '{obs}' missing")
        check[f"cartpk_{obs}"] = rel_diff_floored(cartpk["check"][obs], ref[obs], floor)
        if obs in peer.get("check_bench_tol", {}):  # information only: the timed SciPy solve's own accuracy
            check[f"scipy_lsoda_{obs}"] = rel_diff_floored(peer["check_bench_tol"][obs], ref[obs], floor)
    worst = max(v for k, v in check.items() if k.startswith("cartpk_"))

    rows, ratios = [], {}
    for case, peer_case in M2_PAIRS:
        r_cartpk = cartpk[case]["solves_per_second"]
        r_peer = peer[peer_case]["solves_per_second"]
        ratio = r_cartpk / r_peer if r_cartpk and r_peer else None
        ratios[f"{case}/{peer_case}"] = ratio
        rows.append([case, cartpk[case]["solves"], fmt_rate(r_cartpk), peer_case, peer[peer_case]["solves"],
                     fmt_rate(r_peer), "-" if ratio is None else f"{ratio:,.1f}x"])
    t_case, t_peer, t_min = M2_TARGET
    t_ratio = ratios[f"{t_case}/{t_peer}"]
    target_met = t_ratio is not None and t_ratio >= t_min

    print()
    print_table("cart_cd19_bcma: two-year simulation, 731 daily outputs, spec defaults "
                "(ratio = cartpk solves/s / peer solves/s)",
                ["cartpk case", "solves", "solves/s", "peer", "solves", "solves/s", "ratio"], rows)
    print("  (ode_sens6 also computes sensitivities w.r.t. 6 parameters, which the peer does not)")
    print(f"  target {t_case} >= {t_min:g}x {t_peer}: "
          + ("met" if target_met else "NOT met") + ("" if t_ratio is None else f" ({t_ratio:,.1f}x)"))
    print("  check values (cartpk / SciPy reference):")
    for obs in M2_CHECK_FLOOR:
        print(f"    {obs:5s} " + "  ".join(f"day {t}: {c:.7g} / {r:.7g}" for t, c, r in
                                          zip(M2_CHECK_TIMES, cartpk["check"][obs], ref[obs])))
    print("  check, max relative difference vs the SciPy reference (absolute below "
          + ", ".join(f"{k} {v:g}" for k, v in M2_CHECK_FLOOR.items()) + "): "
          + ", ".join(f"{k} {v:.2e}" for k, v in check.items()))
    ok = worst <= M2_CHECK_TOL
    if not ok:
        print(f"  FAIL: cartpk disagrees with the SciPy reference by {worst:.2e} > {M2_CHECK_TOL:g}")
    print()

    return {
        "ok": ok,
        "inputs": {"model": "cart_cd19_bcma", "parameters": "spec defaults", "times": "0,1,...,730 days",
                   "cartpk_repeats": a.m2_repeats, "peer_repeats": a.m2_peer_repeats,
                   "check_times": list(M2_CHECK_TIMES), "check_tol": M2_CHECK_TOL, "check_floor": M2_CHECK_FLOOR},
        "cartpk": cartpk,
        "peer": peer,
        "ratios": ratios,
        "target": {"case": f"{t_case}/{t_peer}", "min_ratio": t_min, "ratio": t_ratio, "met": target_met},
        "check_max_rel_diff": check,
    }


# --------------------------------------------------------------------------------------------------------------

BENCHMARKS = {
    "stein2019": bench_stein2019,
    "cart_cd19_bcma": bench_cart_cd19_bcma,
}


def host_info():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build directory (default: build)")
    ap.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                    help=f"run only this benchmark (repeatable; one of: {', '.join(BENCHMARKS)})")
    ap.add_argument("--n-sets", type=int, default=10000, help="parameter sets per benchmark (default 10000)")
    ap.add_argument("--ode-sets", type=int, default=300,
                    help="sets given to the slow per-set SciPy ODE peer (default 300)")
    ap.add_argument("--m2-repeats", type=int, default=1000,
                    help="cart_cd19_bcma: timed solves per cartpk case (default 1000)")
    ap.add_argument("--m2-peer-repeats", type=int, default=20,
                    help="cart_cd19_bcma: timed solves of the SciPy peer (default 20)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per program run (default 3600)")
    args = ap.parse_args()
    if args.n_sets < 5:
        ap.error("--n-sets must be at least 5 (the first 5 sets are used for validation)")
    if args.m2_repeats < 1 or args.m2_peer_repeats < 1:
        ap.error("--m2-repeats and --m2-peer-repeats must be at least 1")

    build = Path(args.build).resolve()
    ctx = Context(build=build, out=build / "bench", args=args)
    ctx.out.mkdir(parents=True, exist_ok=True)

    results = {"generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "host": host_info(), "benchmarks": {}}
    failed = []
    for name in args.only or BENCHMARKS:
        try:
            results["benchmarks"][name] = BENCHMARKS[name](ctx)
        except BenchError as e:
            print(f"{name}: ERROR: {e}\n", file=sys.stderr)
            results["benchmarks"][name] = {"ok": False, "error": str(e)}
        if not results["benchmarks"][name]["ok"]:
            failed.append(name)

    out = ctx.out / "results.json"
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"results written to {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
