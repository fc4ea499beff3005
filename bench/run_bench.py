#!/usr/bin/python3
"""`make bench` driver: cartpk throughput against independent Python peers.

Each benchmark is a function in BENCHMARKS that prepares its inputs under <build>/bench/, runs the cartpk
executable and the peers, checks that their predictions agree, prints a table and returns a JSON-able dict.
All results are written together to <build>/bench/results.json. The exit status is 1 if any benchmark fails
(a missing executable, a crashed run, or predictions that disagree).

Benchmarks:
  popfit      population fits (bench/popfit_bench.py): SAEM and FOCE-I on 100 simulated stein2019 subjects (1 and
              2 threads), against R nlme on the same problems, and a 40-subject cart_cd19_bcma population.
  rtol_rule   the fit's default ODE tolerance (bench/rtol_rule.py): per rtol, every subject's OFV against a fit at
              rtol 1e-12 on the benchmark cohorts; the loosest passing decade (docs/fitting.md).
  stein2019   10,000 log-normal parameter sets of the stein2019 model (spec M1) at 12 sampling times:
              bench_stein2019 (closed form / ODE, each with and without sensitivities) against
              bench/peer_stein2019.py (vectorised NumPy closed form; SciPy LSODA ODE in a per-set loop).
  cart_cd19_bcma
              one two-year simulation (daily outputs) of the cart_cd19_bcma model (spec M2) at its defaults,
              repeated: bench_cart_cd19_bcma (CVODES, without and with sensitivities w.r.t. six parameters)
              against bench/peer_cart_cd19_bcma.py (SciPy LSODA on tests/python/m2_reference.py, a
              spec-only reimplementation). Target (the issue's): ode_sens6 >= 100x the SciPy peer.
  fit_objective
              the cost of one OFV with its exact gradient (bench_fit_objective), the unit of work of a fit.
  fit_stein2019
              per-patient ML fits (six parameters and the log-normal SD, 10 starts, one thread) of 24 simulated
              patients with 12 qPCR samples each (LLOQ 50 copies/µg, BLQ by M3): `cartpk fit` against
              bench/peer_fit_stein2019.py (SciPy L-BFGS-B, analytic gradient, same likelihood, bounds and
              transforms). Reports the speed ratio, fit time against fit time (cartpk's /fit@fit_seconds, the
              peer's own timing; both without start-up and file I/O; target >= 200x) and against cartpk's whole
              process, and whether cartpk's OFV <= the peer's + 0.01 for every patient.
  fit_cart_cd19_bcma
              per-patient fits of rho, rhoh, dele, kem, fblood, kmax19 (log-normal SD 0.3 fixed) of 6 simulated
              cart_cd19_bcma patients (qpcr, flow, bcell; dose records AMT = 1e6*WT cells): `cartpk fit --starts 3`
              against bench/peer_fit_cart_cd19_bcma.py (SciPy LSODA rtol 1e-8 + L-BFGS-B, finite-difference
              gradient) from the same starts (cartpk's, read from its HDF5 output; the model defaults first).
              The peer can be run on fewer patients (--fit-m2-peer-patients) and its time scaled.
              Ratio fit time against fit time (and whole process); target >= 50x.
              Then issue 12's compiled-R comparison: a 4-patient cohort (--fit-m2-r-patients) fitted by `cartpk
              fit --starts 1` (the model defaults; standard errors, its default; whole process, best of
              --fit-m2-r-repeats) against bench/peer_lsoda/peer_fit.R (R deSolve lsoda on the right-hand side
              compiled to C + optim L-BFGS-B with finite-difference gradients, no standard errors, from the same
              start; its rtol the loosest whose OFV at the start is within 1e-6 of the SciPy reference). Ratio R fit
              seconds / cartpk whole-process seconds; target >= 3x, and cartpk's OFV <= R's + 0.01 on every
              patient. Skipped (not failed) when R, deSolve and jsonlite cannot be installed.

  design      the exact two-stage design searches: `cartpk design simon` (nmax 100) and `cartpk design
              bryant-day` (n up to 60) against bench/peer_designs.py (the same searches written with NumPy/SciPy
              binomial tables); both must return the same designs. Time: cartpk's whole process (best of
              --design-repeats runs) against the peer's search alone. Targets: >= 20x and under one second each.

  vpop        virtual populations (`cartpk vpop`), each run with 1 and 2 threads and, where cartpk is built with
              MPI and mpirun exists, 1 and 2 ranks x 1 thread under mpirun (scaling efficiency = speed-up / 2:
              2 threads over 1 thread, 2 ranks over 1 rank; the runs' numbers must be identical):
              a. stein2019 closed form, 100,000 patients x 3 scenarios (base, cmax x0.5, x2), 100 output times,
                 metrics, bands and the HDF5 output, against bench/peer_vpop.py stein2019 (NumPy-vectorised
                 sampling with rejection, curves, metrics, quantiles); patients/s per core; targets >= 3x the
                 peer per core, scaling >= 85 %.
              b. cart_cd19_bcma over two years (daily outputs), 2,000 patients x 3 doses: patients/s per core,
                 the population machinery's cost over bare solves (bench_cart_cd19_bcma --population solving
                 the run's own patients at its doses, against the run; target <= 10 %; and the same for the
                 typical patient, and on a weekly grid), a SciPy LSODA peer on a subset (per-patient rates) with
                 both solvers' accuracy against a tight reference at cartpk's sampled patients.
              c. peak memory (max RSS) of 1,000,000 stein2019 patients x 3 scenarios; target <= 2 GB.

  trial       model-based virtual trials: `cartpk trial` with 10,000 replicates of the registered design
              (examples/trial_design.toml) on a 20,000-patient cart_cd19_bcma pool at 1e6 cells/kg (built once
              with `cartpk vpop` and examples/iiv_cart_cd19_bcma.toml, outside the timing; kept in <build>/bench/).
              Time: the trial layer itself (/trial@trial_seconds: replicates and summaries, best of
              --trial-repeats runs), and the whole process beside it. Target: < 1 s.

  hardiansyah2019
              the published model P1 (Hardiansyah & Ng 2019, CD19 CAR-T with IL-6/IL-10/IFN-gamma) at its published
              values (patient UPN3) with UPN3's split dose (10/30/60 % on days 0/1/2), 60 days, outputs every 0.25
              day, repeated: bench_models --model hardiansyah2019 (CVODES at cartpk's default tolerances, without
              and with sensitivities w.r.t. the 7 parameters the paper estimated) against
              bench/peer_hardiansyah2019.py (SciPy LSODA on tests/python/hardiansyah2019_reference.py, written from
              the spec alone, same tolerances); both checked against a tight SciPy reference (<= 1e-5 relative).

  muellerschoell2021
              the published model P3 (Mueller-Schoell 2021, CD19 CAR-T phenotypes TN/TCM/TEM/TEff with tumour
              volume) at its published values (reference class, median tumour 85.7 mL; no dose records: 0.1
              cells/µL per phenotype at t = 0), 365 days, outputs every 0.25 day, repeated: bench_models --model
              muellerschoell2021 (CVODES at cartpk's default tolerances, without and with sensitivities w.r.t. the
              8 parameters the paper estimated that it fits per patient) against bench/peer_muellerschoell2021.py
              (SciPy LSODA with the exact Jacobian on tests/python/muellerschoell2021_reference.py, written from
              the spec alone, same tolerances); both checked against a tight SciPy reference (<= 1e-5 relative).

  singh2021_idecel
              the published model P2 (Singh 2021, BCMA CAR-T ide-cel: blood/marrow CAR-T, CAR-BCMA binding,
              myeloma, M-protein, sBCMA; stiff: Kel_e 113 /day, koff 206 /day) at its published typical values
              after 150e6 CAR+ cells, 365 days, outputs every 0.25 day, repeated: bench_models --model
              singh2021_idecel (CVODES at cartpk's default tolerances, without sensitivities, with sensitivities
              w.r.t. the 9 parameters the paper estimated, and w.r.t. all 25) against bench/peer_singh2021_idecel.py
              (SciPy LSODA with the hand-derived Jacobian on tests/python/singh2021_idecel_reference.py, written
              from the spec alone, same tolerances); both checked against a tight SciPy reference (<= 1e-5).

  solver      cartpk's ODE integrators (CVODES BDF, and the explicit dopri5 with its stiffness hand-over) against
              compiled LSODA (R deSolve `lsoda` on the right-hand side compiled to C, bench/peer_lsoda/; R is
              installed with apt-get when missing): cart_cd19_bcma, stein2019 and lag_expansion over two years at
              30 outputs, at matched accuracy (each side at the loosest rtol at least as accurate as cartpk's CVODES
              at rtol 1e-6 and 1e-8, against a CVODES rtol 1e-12 reference), plain and with sensitivities (peer:
              forward differences). See bench/solver_lsoda.py. Targets (issue 12): >= 1.0x plain, >= 1.2x with
              sensitivities.

To add one: write `def bench_<name>(ctx) -> dict` (see Context and bench_stein2019) and append it to BENCHMARKS.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
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
    """n reproducible parameter sets (rows, STEIN_COLUMNS order) and how many values each clip (and the
    alpha > beta ordering) changed."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(STEIN_COLUMNS)))
    sets = STEIN_TYPICAL * np.exp(z * np.sqrt(STEIN_OMEGA2))
    clipped = {}
    for name, (lo, hi) in STEIN_CLIP.items():
        j = STEIN_COLUMNS.index(name)
        clipped[name] = int(np.count_nonzero((sets[:, j] < lo) | (sets[:, j] > hi)))
        sets[:, j] = np.clip(sets[:, j], lo, hi)
    # cartpk's stein2019 requires alpha > beta (fast contraction, then slow persistence; it rejects other sets),
    # while the two rates are drawn independently: where alpha <= beta (about 1 % of sets) the two are swapped.
    ja, jb = STEIN_COLUMNS.index("alpha"), STEIN_COLUMNS.index("beta")
    swap = sets[:, ja] <= sets[:, jb]
    clipped["alpha_beta_swapped"] = int(np.count_nonzero(swap))
    sets[swap, ja], sets[swap, jb] = sets[swap, jb].copy(), sets[swap, ja].copy()
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
M2_TARGET = ("ode_sens6", "scipy_lsoda", 100.0)  # the issue's target: ode_sens6 at least 100x the SciPy peer
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
# Per-patient fitting: cartpk fit against SciPy peers

FIT_OFV_SLACK = 0.01       # cartpk's OFV may exceed the peer's by at most this (per patient)
FIT_STEIN_SEED = 2019
FIT_STEIN_TARGET = 20.0    # issue 12: peer whole process / cartpk whole process
FIT_M2_SEED = 1912
FIT_M2_TARGET = 50.0
FIT_M2_SIGMA = 0.3
FIT_M2_CHECK_TOL = 1e-5    # relative agreement of the two OFVs at the model defaults (ODE tolerances)
FIT_M2_R_TARGET = 3.0      # issue 12: >= 3x faster than the compiled-R peer (R fit seconds / cartpk seconds)
FIT_M2_R_CHECK_TOL = 1e-6  # the R peer's OFV (rtol 1e-10) against the SciPy peer's (rtol 1e-10) at fixed points
FIT_M2_R_RTOL_TOL = 1e-6   # the R peer runs at the loosest rtol whose OFV at the start point is this close to the
                           # tight reference on every subject (the solver benchmark's rule)
FIT_M2_R_APT = ("r-cran-jsonlite",)  # besides solver_lsoda.APT_PACKAGES (R, its headers, deSolve)
FIT_STEIN_CHECK_TOL = 1e-8  # the same for the closed form


def cartpk_exe(ctx):
    exe = ctx.build / "cartpk"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    return exe


CARTPK_SUBJECTS_FAILED = 3  # cartpk fit's exit status when some subjects failed (the others are written)


def run_timed(cmd, timeout, ok_codes=(0,)):
    """Run `cmd` (output discarded unless it fails) and return its wall time in seconds.

    Exit codes in `ok_codes` count as success (cartpk fit exits 3 when some subjects failed; their rows are
    still written, and the caller reports them)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child (SIGKILL)
        raise BenchError(f"timed out after {timeout} s (killed): {' '.join(map(str, cmd))}")
    seconds = time.perf_counter() - t0
    if proc.returncode not in ok_codes:
        sys.stderr.write(proc.stderr)
        raise BenchError(f"exit status {proc.returncode}: {' '.join(map(str, cmd))}")
    return seconds


FIT_OK_CODES = (0, CARTPK_SUBJECTS_FAILED)


def h5_evaluations(h5_path):
    """Objective evaluations of every start, restart and polish of every subject in a `cartpk fit` output."""
    import h5py
    with h5py.File(h5_path, "r") as f:
        return sum(int(np.sum(g["starts/evaluations"][:])) for g in f["fit/subjects"].values() if "starts" in g)


def fit_seconds(h5_path):
    """cartpk's own wall time of the fits (/fit@fit_seconds: start-up, reading and writing files excluded)."""
    import h5py
    with h5py.File(h5_path, "r") as f:
        return float(f["fit"].attrs["fit_seconds"])


def failed_subjects(table, ids):
    """{id: status} of the subjects whose cartpk fit failed."""
    return {sid: table[sid]["status"] for sid in ids if sid in table and table[sid]["status"].startswith("failed")}


def print_failed(failed):
    for sid, status in failed.items():
        print(f"  FAIL: cartpk's fit of subject {sid} failed: {status}")


def read_fit_table(path):
    with open(path, newline="") as f:
        return {r["ID"]: r for r in csv.DictReader(f)}


def compare_fits(table, peer_subjects, ids):
    """Per-patient OFV comparison rows and the list of patients where cartpk is worse than the peer + slack."""
    peer = {s["id"]: s for s in peer_subjects}
    rows, worse = [], []
    for sid in ids:
        if sid not in table:
            raise BenchError(f"cartpk's table lacks subject {sid}")
        if sid not in peer or peer[sid]["ofv"] is None:
            raise BenchError(f"the peer has no fit of subject {sid}")
        c, p = float(table[sid]["ofv"]), float(peer[sid]["ofv"])
        if int(table[sid]["n_obs"]) != peer[sid]["n_obs"] or int(table[sid]["n_blq"]) != peer[sid]["n_blq"]:
            raise BenchError(f"subject {sid}: n_obs/n_blq differ (cartpk {table[sid]['n_obs']}/{table[sid]['n_blq']},"
                             f" peer {peer[sid]['n_obs']}/{peer[sid]['n_blq']})")
        ok = c <= p + FIT_OFV_SLACK
        if not ok or not math.isfinite(c):
            worse.append(sid)
        rows.append({"id": sid, "ofv_cartpk": c, "ofv_peer": p, "diff": c - p, "cartpk_ok": ok,
                     "cartpk_status": table[sid]["status"]})
        # A failed subject's row still carries the OFV of its best start (the failure came afterwards).
    return rows, worse


def print_fit_rows(rows):
    print_table("  per patient (diff = cartpk OFV - peer OFV; '!' where cartpk is worse by more than "
                f"{FIT_OFV_SLACK:g})", ["ID", "OFV cartpk", "OFV peer", "diff", ""],
                [[r["id"], f"{r['ofv_cartpk']:.6f}", f"{r['ofv_peer']:.6f}", f"{r['diff']:.2e}",
                  "" if r["cartpk_ok"] else "!"] for r in rows])


def bench_fit_stein2019(ctx):
    a = ctx.args
    sys.path.insert(0, str(HERE))
    import peer_fit_stein2019 as peer_mod
    exe = cartpk_exe(ctx)
    data = ctx.out / "fit_stein2019_data.csv"
    truths = peer_mod.simulate_cohort(data, a.fit_patients, FIT_STEIN_SEED, sigma=0.3, lloq=50.0)
    ids = [str(i) for i in range(1, len(truths) + 1)]
    table = ctx.out / "fit_stein2019_table.csv"
    base = [exe, "fit", "--model", "stein2019", "--data", data, "--threads", "1", "--quiet",
            "--out", ctx.out / "fit_stein2019.h5"]

    # Evaluation only (--maxeval 0): start-up, I/O, standard errors and curves, and a check that cartpk and the
    # peer compute the same OFV at the same point (the typical values, SD 0.5).
    print(f"fit_stein2019: {a.fit_patients} patients x 12 samples; cartpk fit --maxeval 0 (check) ...", flush=True)
    overhead = min(run_timed(base + ["--maxeval", "0", "--table", table], a.fit_timeout, FIT_OK_CODES)
                   for _ in range(a.fit_repeats))
    at_start = read_fit_table(table)
    subjects = dict(peer_mod.read_dataset(data, {}))
    check = 0.0
    for sid in ids:
        obj = peer_mod.Objective(subjects[sid], 300.0)
        z0 = np.array([peer_mod.to_z(n, peer_mod.TYPICAL[n]) for n in peer_mod.NAMES] + [np.log(0.5)])
        ref = obj(z0)[0]
        check = max(check, abs(float(at_start[sid]["ofv"]) - ref) / max(abs(ref), 1.0))
    if check > FIT_STEIN_CHECK_TOL:
        raise BenchError(f"cartpk and the peer disagree on the OFV at the typical values: {check:.2e} relative")

    print(f"fit_stein2019: cartpk fit --starts 10 --threads 1 (best of {a.fit_repeats}) ...", flush=True)
    walls, fit_times = [], []
    for _ in range(a.fit_repeats):
        walls.append(run_timed(base + ["--starts", "10", "--table", table], a.fit_timeout, FIT_OK_CODES))
        fit_times.append(fit_seconds(ctx.out / "fit_stein2019.h5"))
    cartpk_s, cartpk_fit_s = min(walls), min(fit_times)
    print("fit_stein2019: running peer_fit_stein2019.py (10 starts, L-BFGS-B) ...", flush=True)
    t0 = time.perf_counter()
    peer = run_json([sys.executable, HERE / "peer_fit_stein2019.py", data, "--starts", "10"], a.timeout)
    peer_wall = time.perf_counter() - t0
    peer_s = peer["seconds"]  # the fits only (reading the data and Python start-up excluded)

    fitted = read_fit_table(table)
    failed = failed_subjects(fitted, ids)
    rows, worse = compare_fits(fitted, peer["subjects"], ids)
    cartpk_evals = h5_evaluations(ctx.out / "fit_stein2019.h5")
    peer_evals = sum(int(s["nfev"]) for s in peer["subjects"])
    ratio = peer_s / cartpk_s
    ratio_fit = peer_s / cartpk_fit_s  # like for like: both the fits alone
    ratio_whole = peer_wall / cartpk_s  # the target's measure: both whole processes
    target_met = ratio_whole >= FIT_STEIN_TARGET
    print()
    print(f"fit_stein2019: {len(ids)} patients, 10 starts, 7 estimates (6 parameters + SD), one thread")
    print_fit_rows(rows)
    print(f"  cartpk fit time (/fit@fit_seconds, SEs and curves included, best of {a.fit_repeats}): "
          f"{cartpk_fit_s:.3f} s ({cartpk_fit_s / len(ids) * 1e3:.1f} ms/patient)")
    print(f"  cartpk wall time (whole process, best of {a.fit_repeats}): {cartpk_s:.3f} s; a --maxeval 0 run "
          f"(start-up, reading, SEs, curves, HDF5 and table): {overhead:.3f} s")
    print(f"  peer fit time: {peer_s:.3f} s ({peer_s / len(ids) * 1e3:.1f} ms/patient; "
          f"{peer_wall:.2f} s with start-up)")
    print(f"  ratio peer/cartpk: {ratio_fit:,.1f}x fit time against fit time; {ratio:,.1f}x against the whole "
          "cartpk process")
    print(f"  objective evaluations (OFV + gradient): cartpk {cartpk_evals} ({cartpk_fit_s / cartpk_evals * 1e6:.1f} us "
          f"each, all included), peer {peer_evals} ({peer_s / peer_evals * 1e6:.1f} us each)")
    print(f"  whole process against whole process: {ratio_whole:,.1f}x; target >= {FIT_STEIN_TARGET:g}x: "
          + ("met" if target_met else "NOT met"))
    print(f"  cartpk OFV <= peer OFV + {FIT_OFV_SLACK:g} for every patient: "
          + ("yes" if not worse else f"NO (patients {', '.join(worse)})"))
    print(f"  check: OFV at the typical values, max relative difference cartpk vs peer {check:.2e}")
    print_failed(failed)
    print()
    return {
        "ok": not failed,
        "cartpk_failed_subjects": failed,
        "inputs": {"data": str(data), "patients": len(ids), "samples_per_patient": len(peer_mod.SIM_TIMES),
                   "times": list(peer_mod.SIM_TIMES), "lloq": 50.0, "sigma": 0.3, "seed": FIT_STEIN_SEED,
                   "starts": 10, "threads": 1, "truths": truths},
        "cartpk": {"wall_seconds": cartpk_s, "wall_seconds_all_repeats": walls, "fit_seconds": cartpk_fit_s,
                   "fit_seconds_all_repeats": fit_times,
                   "maxeval0_wall_seconds": overhead, "command": " ".join(map(str, base + ["--starts", "10"]))},
        "evaluations": {"cartpk": cartpk_evals, "peer": peer_evals},
        "peer": {"seconds": peer_s, "wall_seconds": peer_wall, "meta": peer["meta"],
                 "infeasible_starts": sum(s["infeasible_starts"] for s in peer["subjects"])},
        "ratio": ratio_fit,
        "ratio_whole_process": ratio,
        "ratio_whole_against_whole": ratio_whole,
        "target": {"min_ratio": FIT_STEIN_TARGET, "ratio": ratio_whole, "met": target_met},
        "ofv_check": {"slack": FIT_OFV_SLACK, "all_ok": not worse, "cartpk_worse": worse, "patients": rows},
        "check_ofv_at_typical_max_rel_diff": check,
    }


def bench_fit_cart_cd19_bcma(ctx):
    a = ctx.args
    sys.path.insert(0, str(HERE))
    import h5py
    import peer_fit_cart_cd19_bcma as peer_mod
    exe = cartpk_exe(ctx)
    data = ctx.out / "fit_cart_cd19_bcma_data.csv"
    truths = peer_mod.simulate_cohort(data, a.fit_m2_patients, FIT_M2_SEED, sigma=FIT_M2_SIGMA)
    ids = [str(i) for i in range(1, len(truths) + 1)]
    n_peer = min(a.fit_m2_peer_patients, len(ids))
    peer_ids = ids[:n_peer]
    h5 = ctx.out / "fit_cart_cd19_bcma.h5"
    table = ctx.out / "fit_cart_cd19_bcma_table.csv"
    errors = []
    for obs in ("qpcr", "flow", "bcell"):
        errors += ["--error", f"{obs}=lognormal:{FIT_M2_SIGMA}:fixed"]
    base = [exe, "fit", "--model", "cart_cd19_bcma", "--data", data, "--threads", "1", "--quiet", "--out", h5,
            "--table", table] + errors

    print(f"fit_cart_cd19_bcma: {len(ids)} patients; cartpk fit --maxeval 0 (check) ...", flush=True)
    overhead = run_timed(base + ["--maxeval", "0"], a.fit_timeout, FIT_OK_CODES)
    at_start = read_fit_table(table)
    subjects = dict(peer_mod.read_dataset(data))
    sigmas = {obs: FIT_M2_SIGMA for obs in ("qpcr", "flow", "bcell")}
    check = 0.0
    for sid in ids:
        obj = peer_mod.Objective(subjects[sid], sigmas, 1e-10, 1e-14 * peer_mod.STATE_SCALES)
        defaults = peer_mod.m2.params()
        ref = obj(np.array([peer_mod.to_z(n, defaults[n]) for n in peer_mod.NAMES]))
        check = max(check, abs(float(at_start[sid]["ofv"]) - ref) / max(abs(ref), 1.0))
    if check > FIT_M2_CHECK_TOL:
        raise BenchError(f"cartpk and the SciPy reference disagree on the OFV at the model defaults: "
                         f"{check:.2e} relative")

    print(f"fit_cart_cd19_bcma: cartpk fit --starts {a.fit_m2_starts} --threads 1 ...", flush=True)
    cartpk_s = run_timed(base + ["--starts", a.fit_m2_starts], a.fit_timeout, FIT_OK_CODES)
    cartpk_fit_s = fit_seconds(h5)
    fitted = read_fit_table(table)
    failed = failed_subjects(fitted, ids)
    evaluations = {}
    with h5py.File(h5, "r") as f:
        for sid in ids:
            if f"fit/subjects/{sid}/starts" in f:  # a failed subject has no starts in the output
                evaluations[sid] = int(np.sum(f[f"fit/subjects/{sid}/starts/evaluations"][:]))
    # The peer starts where cartpk started: cartpk's start points (model defaults first, then its Latin-hypercube
    # points, which depend only on --seed and the subject's position), read from the HDF5 output of an untimed
    # run with one evaluation per start (it also has them for subjects whose full fit failed).
    h5_starts = ctx.out / "fit_cart_cd19_bcma_starts.h5"
    run_timed([exe, "fit", "--model", "cart_cd19_bcma", "--data", data, "--threads", "1", "--quiet",
               "--out", h5_starts, "--starts", a.fit_m2_starts, "--maxeval", "1"] + errors, a.fit_timeout,
              FIT_OK_CODES)
    starts = {}
    with h5py.File(h5_starts, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["fit/parameters/estimated"][:]]
        transforms = [n.decode() if isinstance(n, bytes) else str(n) for n in f["fit/parameters/transform"][:]]
        if tuple(names) != peer_mod.NAMES or transforms != [peer_mod.ESTIMATED[n][2] for n in names]:
            raise BenchError(f"cartpk estimates {names} on scales {transforms}; the peer expects "
                             f"{list(peer_mod.NAMES)} on {[peer_mod.ESTIMATED[n][2] for n in peer_mod.NAMES]}")
        for sid in ids:
            key = f"fit/subjects/{sid}/starts/start"
            if key not in f:
                raise BenchError(f"no start points of subject {sid} in {h5_starts}")
            # The first --starts rows are the starts; kink-scan restarts and the polish follow them.
            starts[sid] = [{n: peer_mod.from_z(n, float(v)) for n, v in zip(names, row[:len(names)])}
                           for row in f[key][:int(a.fit_m2_starts)]]
    with h5py.File(h5, "r") as f:  # the same points as the timed run's (where it has them)
        for sid in ids:
            key = f"fit/subjects/{sid}/starts/start"
            if key in f:
                timed = [{n: peer_mod.from_z(n, float(v)) for n, v in zip(names, row[:len(names)])}
                         for row in f[key][:int(a.fit_m2_starts)]]
                if not np.allclose([list(s.values()) for s in timed], [list(s.values()) for s in starts[sid]],
                                   rtol=1e-12, atol=0):
                    raise BenchError(f"subject {sid}: cartpk's start points differ between runs")
    starts_json = ctx.out / "fit_cart_cd19_bcma_starts.json"
    starts_json.write_text(json.dumps(starts))
    print(f"fit_cart_cd19_bcma: running peer_fit_cart_cd19_bcma.py on {n_peer} of {len(ids)} patients "
          f"({a.fit_m2_starts} starts each, cartpk's start points; slow) ...", flush=True)
    peer = run_json([sys.executable, HERE / "peer_fit_cart_cd19_bcma.py", data, "--starts-json", starts_json,
                     "--ids", ",".join(peer_ids)] + [x for obs in sigmas for x in ("--error", f"{obs}={sigmas[obs]}")],
                    a.timeout)
    peer_s = peer["seconds"]
    peer_scaled = peer_s * len(ids) / n_peer
    rows, worse = compare_fits(fitted, peer["subjects"], peer_ids)
    ratio = peer_scaled / cartpk_s
    ratio_fit = peer_scaled / cartpk_fit_s
    target_met = ratio_fit >= FIT_M2_TARGET
    peer_solves = sum(s["solves"] for s in peer["subjects"])
    cartpk_evals = sum(evaluations.get(sid, 0) for sid in peer_ids)
    print()
    print(f"fit_cart_cd19_bcma: {len(ids)} patients, {a.fit_m2_starts} starts, 6 estimates, SD {FIT_M2_SIGMA} fixed, "
          "one thread")
    print_fit_rows(rows)
    print(f"  cartpk fit time (/fit@fit_seconds): {cartpk_fit_s:.2f} s ({cartpk_fit_s / len(ids):.2f} s/patient); "
          f"whole process {cartpk_s:.2f} s; --maxeval 0 run: {overhead:.2f} s")
    scaled_note = "" if n_peer == len(ids) else f", scaled x{len(ids) / n_peer:g} from {n_peer} patients"
    print(f"  peer fit time: {peer_s:.1f} s on {n_peer} patients ({peer_s / n_peer:.1f} s/patient{scaled_note})")
    print(f"  objective evaluations on the peer's patients: cartpk {cartpk_evals} (ODE with sensitivities; "
          f"without the failed subjects), peer {peer_solves} (ODE solves, incl. finite differences)")
    print(f"  ratio peer/cartpk: {ratio_fit:,.1f}x fit time against fit time ({ratio:,.1f}x against the whole "
          f"process); target >= {FIT_M2_TARGET:g}x: " + ("met" if target_met else "NOT met"))
    print(f"  cartpk OFV <= peer OFV + {FIT_OFV_SLACK:g} for every compared patient: "
          + ("yes" if not worse else f"NO (patients {', '.join(worse)})"))
    print(f"  check: OFV at the model defaults, max relative difference cartpk vs SciPy reference {check:.2e}")
    print_failed(failed)
    print()
    compiled_r = fit_m2_compiled_r(ctx, exe, peer_mod, errors, sigmas)
    return {
        "ok": not failed and compiled_r.get("ok", True),
        "cartpk_failed_subjects": failed,
        "compiled_r": compiled_r,
        "inputs": {"data": str(data), "patients": len(ids), "seed": FIT_M2_SEED, "sigma": FIT_M2_SIGMA,
                   "starts": a.fit_m2_starts, "threads": 1, "car_times": list(peer_mod.SIM_CAR_TIMES),
                   "bcell_times": list(peer_mod.SIM_BCELL_TIMES), "truths": truths},
        "cartpk": {"wall_seconds": cartpk_s, "fit_seconds": cartpk_fit_s, "maxeval0_wall_seconds": overhead,
                   "evaluations": evaluations},
        "peer": {"seconds": peer_s, "patients": n_peer, "seconds_scaled_to_all_patients": peer_scaled,
                 "scaled": n_peer != len(ids), "solves": peer_solves, "meta": peer["meta"]},
        "ratio": ratio_fit,
        "ratio_whole_process": ratio,
        "target": {"min_ratio": FIT_M2_TARGET, "ratio": ratio_fit, "met": target_met},
        "ofv_check": {"slack": FIT_OFV_SLACK, "all_ok": not worse, "cartpk_worse": worse, "patients": rows},
        "check_ofv_at_defaults_max_rel_diff": check,
    }


def ensure_r_fit_peer():
    """Rscript with deSolve and jsonlite and a working R CMD SHLIB; apt-get installs what is missing (as root).
    Raises BenchError saying why when R cannot be had."""
    import shutil
    import solver_lsoda
    solver_lsoda.ensure_r(BenchError)  # R, its headers, deSolve
    def have():
        return subprocess.run(["Rscript", "-e", "suppressPackageStartupMessages(library(jsonlite))"],
                              capture_output=True).returncode == 0
    if have():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("R's jsonlite is missing; install it: sudo apt-get install -y " + " ".join(FIT_M2_R_APT))
    print("fit_cart_cd19_bcma: installing " + " ".join(FIT_M2_R_APT) + " ...", flush=True)
    proc = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *FIT_M2_R_APT], capture_output=True,
                          text=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if proc.returncode != 0 or not have():
        raise BenchError("apt-get install " + " ".join(FIT_M2_R_APT) + " failed:\n" + proc.stderr[-2000:])


def fit_m2_compiled_r(ctx, exe, peer_mod, errors, sigmas):
    """Issue 12's fit target: the --fit-m2-r-patients cart_cd19_bcma cohort fitted by `cartpk fit --starts 1`
    (standard errors included, whole process, best of --fit-m2-r-repeats) against bench/peer_lsoda/peer_fit.R (R
    deSolve lsoda on the compiled right-hand side + optim L-BFGS-B with finite-difference gradients, no standard
    errors, one start per subject: the model defaults, cartpk's own start). Target: R seconds / cartpk seconds
    >= 3 and cartpk's OFV <= the R peer's + 0.01 on every subject. Skipped (not failed) when R cannot be had."""
    import h5py
    import solver_lsoda
    a = ctx.args
    n = a.fit_m2_r_patients
    if n < 1:
        print("fit_cart_cd19_bcma (compiled R): skipped (--fit-m2-r-patients 0)\n")
        return {"ok": True, "skipped": True, "reason": "--fit-m2-r-patients 0"}
    try:
        ensure_r_fit_peer()
        dll = solver_lsoda.build_peer(ctx.out, BenchError)  # R CMD SHLIB of models.c, outside every timing
    except BenchError as e:
        print(f"fit_cart_cd19_bcma (compiled R): skipped: {e}\n")
        return {"ok": True, "skipped": True, "reason": str(e)}
    repeats = a.fit_m2_r_repeats
    data = ctx.out / "fit_cart_cd19_bcma_r_data.csv"
    truths = peer_mod.simulate_cohort(data, n, FIT_M2_SEED, sigma=FIT_M2_SIGMA)
    ids = [str(i) for i in range(1, len(truths) + 1)]
    h5 = ctx.out / "fit_cart_cd19_bcma_r.h5"
    table = ctx.out / "fit_cart_cd19_bcma_r_table.csv"
    base = [exe, "fit", "--model", "cart_cd19_bcma", "--data", data, "--threads", "1", "--quiet", "--out", h5,
            "--table", table] + errors

    # Untimed: cartpk's start points (--starts 1: the model defaults) and its OFV there (--maxeval 0, which still
    # reads, computes the standard errors and curves and writes the files: cartpk's fixed costs).
    print(f"fit_cart_cd19_bcma (compiled R): {n} patients; cartpk fit --maxeval 0 ...", flush=True)
    overhead = min(run_timed(base + ["--maxeval", "0"], a.fit_timeout, FIT_OK_CODES) for _ in range(repeats))
    at_start = read_fit_table(table)
    starts, points_truth = {}, {}
    with h5py.File(h5, "r") as f:
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in f["fit/parameters/estimated"][:]]
        if tuple(names) != peer_mod.NAMES:
            raise BenchError(f"cartpk estimates {names}; the R peer expects {list(peer_mod.NAMES)}")
        for sid in ids:
            row = f[f"fit/subjects/{sid}/starts/start"][0]
            starts[sid] = [{nm: peer_mod.from_z(nm, float(v)) for nm, v in zip(names, row[:len(names)])}]
    for sid, truth in zip(ids, truths):
        points_truth[sid] = [truth]
    starts_json = ctx.out / "fit_cart_cd19_bcma_r_starts.json"
    starts_json.write_text(json.dumps(starts))
    truths_json = ctx.out / "fit_cart_cd19_bcma_r_truths.json"
    truths_json.write_text(json.dumps(points_truth))

    # Untimed: the R peer's OFV against the SciPy peer's (tight tolerances) at the start point and at the truth;
    # then the rtol sweep at the start point (the solver benchmark's rule picks the R peer's rtol).
    rscript = HERE / "peer_lsoda" / "peer_fit.R"
    error_arg = "error=" + ",".join(f"{obs}:{sd:.17g}" for obs, sd in sigmas.items())
    r_base = ["Rscript", rscript, f"dll={dll}", f"data={data}", error_arg]
    subjects = dict(peer_mod.read_dataset(data))
    tight = 1e-10
    sweep = run_json(r_base + ["mode=ofv", f"starts={starts_json}",
                               "rtols=" + ",".join(f"{r:g}" for r in (tight,) + solver_lsoda.RTOLS)], a.timeout)
    at_truth = run_json(r_base + ["mode=ofv", f"starts={truths_json}", f"rtols={tight:g}"], a.timeout)
    check_r, check_cartpk, rtol_errors = 0.0, 0.0, {f"{r:g}": 0.0 for r in solver_lsoda.RTOLS}
    reference = {}
    for entry, points, label in ((sweep, starts, "start"), (at_truth, points_truth, "truth")):
        for s in entry["subjects"]:
            sid = s["id"]
            obj = peer_mod.Objective(subjects[sid], sigmas, tight, 1e-14 * peer_mod.STATE_SCALES)
            ref = obj(np.array([peer_mod.to_z(nm, points[sid][0][nm]) for nm in peer_mod.NAMES]))
            reference[(sid, label)] = ref
            values = s["ofv"][0]
            check_r = max(check_r, abs(values[0] - ref) / abs(ref))
            if label == "start":
                check_cartpk = max(check_cartpk, abs(float(at_start[sid]["ofv"]) - ref) / abs(ref))
                for r, v in zip(solver_lsoda.RTOLS, values[1:]):
                    rtol_errors[f"{r:g}"] = max(rtol_errors[f"{r:g}"], abs(v - ref) / abs(ref))
    if check_r > FIT_M2_R_CHECK_TOL:
        raise BenchError(f"the R peer and the SciPy peer disagree on the OFV at fixed points: {check_r:.2e} relative")
    if check_cartpk > FIT_M2_CHECK_TOL:
        raise BenchError(f"cartpk and the SciPy reference disagree on the OFV at the model defaults: "
                         f"{check_cartpk:.2e} relative")
    good = [r for r in solver_lsoda.RTOLS if rtol_errors[f"{r:g}"] <= FIT_M2_R_RTOL_TOL]
    if not good:
        raise BenchError(f"no rtol of the sweep brings the R peer's OFV within {FIT_M2_R_RTOL_TOL:g} of the reference")
    r_rtol = max(good)

    print(f"fit_cart_cd19_bcma (compiled R): cartpk fit --starts 1 --threads 1, standard errors (best of {repeats}) "
          "...", flush=True)
    walls, fit_times = [], []
    for _ in range(repeats):
        walls.append(run_timed(base + ["--starts", "1"], a.fit_timeout, FIT_OK_CODES))
        fit_times.append(fit_seconds(h5))
    cartpk_s, cartpk_fit_s = min(walls), min(fit_times)
    fitted = read_fit_table(table)
    failed = failed_subjects(fitted, ids)
    evaluations, statuses, solver_work = {}, {}, {}
    with h5py.File(h5, "r") as f:
        for sid in ids:
            solver_work[sid] = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                                for k, v in f[f"fit/subjects/{sid}"].attrs.items() if k.startswith("solver_")}
            g = f"fit/subjects/{sid}/starts"
            if g in f:
                evaluations[sid] = [int(v) for v in f[f"{g}/evaluations"][:]]
                statuses[sid] = [x.decode() if isinstance(x, bytes) else str(x) for x in f[f"{g}/status"][:]] \
                    if f"{g}/status" in f else []
    print(f"fit_cart_cd19_bcma (compiled R): peer_fit.R (lsoda rtol {r_rtol:g}, L-BFGS-B; best of {repeats}) ...",
          flush=True)
    r_fit_times, r_walls, peer = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run_json(r_base + ["mode=fit", f"starts={starts_json}", f"rtol={r_rtol:g}", "quiet=1"], a.timeout)
        r_walls.append(time.perf_counter() - t0)
        r_fit_times.append(result["seconds"])
        if peer is not None and [s["ofv"] for s in result["subjects"]] != [s["ofv"] for s in peer["subjects"]]:
            print("  note: the R peer's OFVs differ between runs")
        peer = result
    r_fit_s, r_wall = min(r_fit_times), min(r_walls)
    rows, worse = compare_fits(fitted, peer["subjects"], ids)
    by_id = {p["id"]: p for p in peer["subjects"]}
    ratio = r_fit_s / cartpk_s          # the issue's ratio: cartpk pays start-up, I/O and SEs; R only its fits
    ratio_whole = r_wall / cartpk_s     # whole process against whole process
    ratio_fit = r_fit_s / cartpk_fit_s  # fits against fits (cartpk's SEs and curves included)
    target_met = ratio >= FIT_M2_R_TARGET
    r_solves = sum(s["solves"] for s in peer["subjects"])
    cartpk_evals = sum(sum(v) for v in evaluations.values())
    print()
    print(f"fit_cart_cd19_bcma against compiled R: {len(ids)} patients, one start each (the model defaults), 6 "
          f"estimates, SD {FIT_M2_SIGMA} fixed, one thread")
    print_table(f"  per patient (diff = cartpk OFV - R OFV; '!' where cartpk is worse by more than {FIT_OFV_SLACK:g})",
                ["ID", "OFV cartpk", "OFV R peer", "diff", "cartpk evals", "R solves", "R s", ""],
                [[r["id"], f"{r['ofv_cartpk']:.6f}", f"{r['ofv_peer']:.6f}", f"{r['diff']:.2e}",
                  "+".join(str(v) for v in evaluations.get(r["id"], [])), by_id[r["id"]]["solves"],
                  f"{by_id[r['id']]['seconds']:.2f}", "" if r["cartpk_ok"] else "!"] for r in rows])
    print(f"  cartpk whole process (fit, standard errors, curves, HDF5 and table; best of {repeats}): "
          f"{cartpk_s:.3f} s; its fit time (/fit@fit_seconds) {cartpk_fit_s:.3f} s; a --maxeval 0 run "
          f"{overhead:.3f} s")
    work = [solver_work[sid] for sid in ids]
    print(f"  cartpk objective evaluations (OFV + gradient): {cartpk_evals} "
          f"({cartpk_fit_s / max(cartpk_evals, 1) * 1e3:.2f} ms each, all of the fit time included); solves "
          f"{sum(w.get('solver_solves', 0) for w in work)} (fit, SEs, curves), steps "
          f"{sum(w.get('solver_steps', 0) for w in work)}, integrator "
          f"{', '.join(sorted({str(w.get('solver_integrator', '?')) for w in work}))}")
    print(f"  R peer fit time (best of {repeats}): {r_fit_s:.3f} s ({r_solves} lsoda solves, "
          f"{r_fit_s / max(r_solves, 1) * 1e3:.3f} ms each); whole Rscript process {r_wall:.3f} s; "
          f"R {peer['meta']['r']}, deSolve {peer['meta']['deSolve']}, rtol {r_rtol:g}, "
          f"atol {peer['meta']['atol_scale']:g} x scale, ndeps {peer['meta']['ndeps']:g}")
    print(f"  ratio R/cartpk: {ratio:.2f}x (R fit time / cartpk whole process); {ratio_whole:.2f}x whole process "
          f"against whole process; {ratio_fit:.2f}x fit time against fit time")
    print(f"  target >= {FIT_M2_R_TARGET:g}x: " + ("met" if target_met else "NOT met"))
    print(f"  cartpk OFV <= R OFV + {FIT_OFV_SLACK:g} on every patient: "
          + ("yes" if not worse else f"NO (patients {', '.join(worse)})"))
    print(f"  checks: R vs SciPy OFV at the start point and the truth (rtol {tight:g}): {check_r:.2e} relative; "
          f"cartpk vs SciPy at the start point {check_cartpk:.2e}; R rtol {r_rtol:g} = the loosest with OFV error "
          f"<= {FIT_M2_R_RTOL_TOL:g} at the start ({rtol_errors[f'{r_rtol:g}']:.1e})")
    print_failed(failed)
    print()
    return {
        "ok": not failed,
        "skipped": False,
        "cartpk_failed_subjects": failed,
        "inputs": {"data": str(data), "patients": len(ids), "seed": FIT_M2_SEED, "sigma": FIT_M2_SIGMA,
                   "starts": 1, "threads": 1, "repeats": repeats, "truths": truths, "start_points": starts},
        "cartpk": {"wall_seconds": cartpk_s, "wall_seconds_all_repeats": walls, "fit_seconds": cartpk_fit_s,
                   "fit_seconds_all_repeats": fit_times, "maxeval0_wall_seconds": overhead,
                   "evaluations": evaluations, "start_status": statuses, "solver_work": solver_work,
                   "command": " ".join(map(str, base + ["--starts", "1"]))},
        "peer": {"seconds": r_fit_s, "seconds_all_repeats": r_fit_times, "wall_seconds": r_wall,
                 "wall_seconds_all_repeats": r_walls, "solves": r_solves, "subjects": peer["subjects"],
                 "meta": peer["meta"], "rtol_sweep_max_rel_error": rtol_errors,
                 "command": " ".join(map(str, r_base + ["mode=fit", f"starts={starts_json}", f"rtol={r_rtol:g}"]))},
        "ratio": ratio,
        "ratio_whole_process": ratio_whole,
        "ratio_fit_time": ratio_fit,
        "target": {"min_ratio": FIT_M2_R_TARGET, "ratio": ratio, "met": target_met},
        "ofv_check": {"slack": FIT_OFV_SLACK, "all_ok": not worse, "cartpk_worse": worse, "patients": rows},
        "check_r_vs_scipy_max_rel_diff": check_r,
        "check_cartpk_vs_scipy_at_start_max_rel_diff": check_cartpk,
    }


def bench_fit_objective(ctx):
    """The unit of work of a fit: one OFV with its exact gradient (no peer: the fit benchmarks compare)."""
    exe = ctx.build / "bench" / "bench_fit_objective"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    r = run_json([exe], ctx.args.timeout)
    print(f"fit_objective: one OFV with its exact gradient")
    print(f"  stein2019 closed form, {r['stein2019_records']} records: "
          f"{r['stein2019_closed_us_per_ofv_and_gradient']:.2f} us")
    print(f"  cart_cd19_bcma CVODES with {r['cart_cd19_bcma_sensitivities']} sensitivities, "
          f"{r['cart_cd19_bcma_records']} records over a year: {r['cart_cd19_bcma_ode_us_per_ofv_and_gradient'] / 1e3:.2f} ms")
    print()
    return {"ok": True, **r}


# --------------------------------------------------------------------------------------------------------------
# Two-stage designs: cartpk design against NumPy/SciPy searches

DESIGN_CASES = (  # name, cartpk arguments, peer arguments, columns that must agree
    ("simon", ["simon", "--p0", "0.2", "--p1", "0.4", "--alpha", "0.05", "--beta", "0.1", "--nmax", "100"],
     ["simon", "0.2", "0.4", "0.05", "0.1", "100"], ("r1", "n1", "r", "n")),
    ("bryant-day", ["bryant-day", "--r0", "0.3", "--r1", "0.5", "--t0", "0.6", "--t1", "0.8", "--alpha-r", "0.1",
                    "--alpha-t", "0.1", "--power", "0.8", "--nmax", "60"],
     ["bryant-day", "0.3", "0.5", "0.6", "0.8", "0.1", "0.1", "0.8", "60"], ("n1", "n", "cr1", "ct1", "cr", "ct")),
)
DESIGN_TARGET = 20.0      # peer seconds / cartpk seconds
DESIGN_MAX_SECONDS = 1.0  # cartpk, whole process


def bench_design(ctx):
    a = ctx.args
    exe = cartpk_exe(ctx)
    rows, results, ok = [], {}, True
    for name, cartpk_args, peer_args, keys in DESIGN_CASES:
        table = ctx.out / f"design_{name}.csv"
        print(f"design: cartpk design {name} (best of {a.design_repeats}) and peer_designs.py ...", flush=True)
        times = [run_timed([exe, "design"] + cartpk_args + ["--table", table], a.timeout)
                 for _ in range(a.design_repeats)]
        with open(table) as f:
            got = {r["design"]: r for r in csv.DictReader(f)}
        peer = run_json([sys.executable, HERE / "peer_designs.py"] + peer_args, a.timeout)
        same = all(float(got[d][k]) == peer[d][k] for d in ("optimal", "minimax") for k in keys)
        best = min(times)
        ratio = peer["seconds"] / best
        met = same and ratio >= DESIGN_TARGET and best < DESIGN_MAX_SECONDS
        ok = ok and same
        results[name] = {"cartpk_seconds": best, "cartpk_all_seconds": times, "peer_seconds": peer["seconds"],
                         "ratio": ratio, "same_designs": same, "target_met": met, "command": cartpk_args,
                         "designs": {d: {k: float(got[d][k]) for k in keys} for d in ("optimal", "minimax")},
                         "peer_meta": peer["meta"]}
        o = got["optimal"]
        rows.append([name, f"{best * 1e3:.1f} ms", f"{peer['seconds']:.2f} s", f"{ratio:,.0f}x",
                     "yes" if same else "NO", "met" if met else "NOT met",
                     " ".join(f"{k} {float(o[k]):g}" for k in keys)])
    print()
    print_table(f"design: exact searches (cartpk: whole process, best of {a.design_repeats}; peer: the search "
                f"only); target >= {DESIGN_TARGET:g}x and < {DESIGN_MAX_SECONDS:g} s",
                ["search", "cartpk", "peer", "ratio", "same designs", "target", "optimal design"], rows)
    print()
    return {"ok": ok, "cases": results, "target": {"min_ratio": DESIGN_TARGET, "max_seconds": DESIGN_MAX_SECONDS}}


# --------------------------------------------------------------------------------------------------------------
# Virtual populations: cartpk vpop against NumPy/SciPy peers, its thread (and MPI rank) scaling, the population
# machinery's cost over bare solves, and peak memory

VPOP_STEIN_SCENARIOS = ("# base, cmax x0.5 and cmax x2 (stein2019's typical cmax is 24000 copies/µg)\n"
                        "[scenario.base]\n\n[scenario.cmax_half.parameters]\ncmax = 12000\n\n"
                        "[scenario.cmax_double.parameters]\ncmax = 48000\n")
VPOP_STEIN_CMAX = "24000,12000,48000"                   # the same scenarios for the peer
VPOP_STEIN_GRID = ["--end", "396", "--step", "4"]       # 100 output times: 0, 4, ..., 396 days
VPOP_M2_DOSES = "0.5e6,1e6,2e6"
VPOP_M2_GRID = ["--end", "730", "--step", "1"]          # two years, daily: the grid of bench_cart_cd19_bcma
VPOP_M2_KEPT = 4                                        # trajectories kept for the accuracy check
VPOP_M2_PEER_RTOL, VPOP_M2_PEER_ATOL_SCALE = 1e-8, 1e-13
# Process layouts of the vpop runs: (label, threads, ranks). Rank scaling is 2 ranks against 1 rank, both under
# mpirun (the issue's "1 and 2 MPI ranks"); against the plain process it is shown too (mpirun's start-up included).
VPOP_LAYOUTS = (("1 thread", 1, 1), ("2 threads", 2, 1), ("1 MPI rank", 1, 1), ("2 MPI ranks", 1, 2))
VPOP_MPI = ("1 MPI rank", "2 MPI ranks")
VPOP_SCALING_BASE = {"2 threads": "1 thread", "2 MPI ranks": "1 MPI rank"}
VPOP_STEIN_TARGET = 3.0       # cartpk patients/s per core over the NumPy peer's
VPOP_SCALING_TARGET = 0.85    # speed-up / 2 on two cores (threads or ranks)
VPOP_OVERHEAD_TARGET = 0.10   # population machinery over bare solves
VPOP_MEMORY_TARGET_GB = 2.0
VPOP_CHECK_TOL = 0.05         # cartpk vs NumPy peer: medians of independent 100,000-patient samples
VPOP_M2_CHECK_TOL = M2_CHECK_TOL


def run_measured(cmd, timeout):
    """Run `cmd` (output discarded unless it fails) and return its wall time in seconds (use it inside
    ChildUsage for its CPU time and memory)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        raise BenchError(f"timed out after {timeout} s (killed): {' '.join(map(str, cmd))}")
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise BenchError(f"exit status {proc.returncode}: {' '.join(map(str, cmd))}")
    return wall


class ChildUsage:
    """resource.getrusage(RUSAGE_CHILDREN) before and after one child: its CPU seconds; and ru_maxrss, which is
    the largest child so far (so a memory measurement runs first, or in a fresh process)."""

    def __enter__(self):
        import resource
        self._r = resource
        self.before = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc):
        after = self._r.getrusage(self._r.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime - self.before.ru_utime) + (after.ru_stime - self.before.ru_stime)
        self.maxrss_kb = after.ru_maxrss
        return False


def vpop_run(ctx, args, threads, ranks=1, mpi=None):
    """One `cartpk vpop` run: wall, CPU, the run's own seconds (/vpop/run_seconds) and its output's numbers.
    Under mpirun when ranks > 1, or when mpi is true (one rank under mpirun: the baseline of rank scaling)."""
    import h5py
    exe = cartpk_exe(ctx)
    cmd = [exe, "vpop"] + args + ["--threads", threads, "--quiet"]
    if mpi if mpi is not None else ranks > 1:  # --bind-to none, as docs/scaling.md says for ranks with threads
        cmd = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "--mca", "pml", "ob1", "-np",
               ranks] + cmd  # pml ob1: docs/scaling.md
    with ChildUsage() as usage:
        wall = run_measured(cmd, ctx.args.timeout)
    out = args[args.index("--out") + 1]
    with h5py.File(out, "r") as f:
        n = int(f["/vpop"].attrs["n_patients"])
        run_s = float(f["/vpop/run_seconds"][0, 0])
        complete = int(f["/vpop/progress"][-1, 1]) == 1
    if not complete:
        raise BenchError(f"{out}: the run is marked partial")
    cores = (threads or os.cpu_count()) * ranks  # --threads 0: all cores
    return {"threads": threads, "ranks": ranks, "cores": cores, "patients": n, "wall": wall, "mpirun": cmd[0] == "mpirun",
            "cpu": usage.cpu, "run_seconds": run_s, "per_core_wall": n / (wall * cores),
            "per_core_run": n / (run_s * cores), "per_cpu_second": n / usage.cpu if usage.cpu > 0 else None,
            "command": " ".join(map(str, cmd))}


def best_vpop_run(ctx, args, threads, ranks, mpi, repeats):
    """The fastest (by wall) of `repeats` identical vpop runs, with every run's wall time beside it: a single run of
    about a second varies by 10-20 % on a 2-core machine."""
    tries = [vpop_run(ctx, args, threads, ranks, mpi) for _ in range(max(1, repeats))]
    best = min(tries, key=lambda r: r["wall"])
    best["walls"] = [r["wall"] for r in tries]
    return best


def h5_numbers(path, skip=("run_seconds", "progress")):
    """Every numeric dataset of an HDF5 file (for the identical-output check; the run time and the progress
    rows, which record when batches were flushed, differ between any two runs)."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and name.split("/")[-1] not in skip:
                out[name] = obj[()]
        f.visititems(visit)
    return out


def same_numbers(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def model_table(exe, model):
    """{parameter: (default, lower, upper, omega2 or None)} parsed from `cartpk models MODEL`."""
    proc = subprocess.run([str(exe), "models", model], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise BenchError(f"cartpk models {model} failed: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "parameters:")
    header = lines[start + 1].split()
    has_omega = "omega2" in header
    table = {}
    for line in lines[start + 2:]:
        fields = line.split()
        if not fields or line.strip().startswith("omega2:") or not line.startswith("  "):
            break
        omega = float(fields[5]) if has_omega and fields[5] != "-" else None
        table[fields[0]] = (float(fields[2]), float(fields[3]), float(fields[4]), omega)
    return table


def mpi_status(ctx):
    """(available, why not): mpirun on PATH and a cartpk built with MPI (`cartpk --version` says so)."""
    import shutil
    if not shutil.which("mpirun"):
        return False, "mpirun is not installed (make deps installs openmpi-bin where the build uses MPI)"
    proc = subprocess.run([str(cartpk_exe(ctx)), "--version"], capture_output=True, text=True, timeout=60)
    if "MPI: yes" not in proc.stdout + proc.stderr:
        return False, f"this cartpk is built without MPI (`cartpk --version`: {proc.stdout.strip() or '?'})"
    return True, ""


def vpop_scaling(runs):
    """{label: (scaling by wall, by CPU seconds, by wall against the plain 1-thread process)} of each multi-core run:
    pat/s/core over its base layout's (VPOP_SCALING_BASE), i.e. speed-up / 2 on two cores."""
    out = {}
    for label, base in VPOP_SCALING_BASE.items():
        if label in runs and base in runs:
            r, b = runs[label], runs[base]
            out[label] = (r["per_core_wall"] / b["per_core_wall"], r["per_cpu_second"] / b["per_cpu_second"],
                          r["per_core_wall"] / runs["1 thread"]["per_core_wall"])
    return out


def write_population_csv(h5_path, csv_path):
    """The patients of a cart_cd19_bcma vpop file as bench_cart_cd19_bcma --population reads them: WT, then the
    individual parameters (before scenarios) named in the header."""
    import h5py
    with h5py.File(h5_path, "r") as f:
        p = f["/vpop/patients/parameters"]
        names = [c.decode() if isinstance(c, bytes) else c for c in p.attrs["columns"]]
        rows = np.column_stack([f["/vpop/patients/covariates"][:, 0], p[()]])
    with open(csv_path, "w") as out:
        out.write(",".join(["WT"] + names) + "\n")
        for row in rows:
            out.write(",".join(repr(float(x)) for x in row) + "\n")


def same_first_curve(h5_path, first):
    """Whether bench_cart_cd19_bcma's first population solve equals patient 1's kept curve in the first scenario."""
    import h5py
    with h5py.File(h5_path, "r") as f:
        scenario = f["/vpop"].attrs["scenarios"][0]
        scenario = scenario.decode() if isinstance(scenario, bytes) else scenario
        return all(np.array_equal(np.asarray(v), f[f"/vpop/scenarios/{scenario}/trajectories/{o}"][0])
                   for o, v in first.items())


def print_plain_process_scaling(scaling):
    if "2 MPI ranks" in scaling:
        print(f"  2 MPI ranks against the plain 1-thread process (mpirun's start-up of about 0.15 s counted against "
              f"the ranks): {100 * scaling['2 MPI ranks'][2]:.0f} %")


def fmt_s(x):
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def bench_vpop(ctx):
    a = ctx.args
    exe = cartpk_exe(ctx)
    sys.path.insert(0, str(HERE))
    import peer_vpop
    load = os.getloadavg()[0]
    mpi_ok, mpi_why = mpi_status(ctx)
    results, ok, ratios = {"load_average_at_start": load}, True, {}

    # The peers' model tables must be cartpk's (bounds for rejection, typical values, omega^2).
    stein_table = model_table(exe, "stein2019")
    for name, (typical, lower, upper, omega2) in peer_vpop.STEIN.items():
        if stein_table.get(name) != (typical, lower, upper, omega2):
            raise BenchError(f"peer_vpop.STEIN[{name}] = {(typical, lower, upper, omega2)} but cartpk models "
                             f"stein2019 lists {stein_table.get(name)}")
    m2_table = model_table(exe, "cart_cd19_bcma")
    for name, (lower, upper) in peer_vpop.M2_BOUNDS.items():
        if m2_table.get(name, (None, None, None))[1:3] != (lower, upper):
            raise BenchError(f"peer_vpop.M2_BOUNDS[{name}] = {(lower, upper)} but cartpk models cart_cd19_bcma "
                             f"lists {m2_table.get(name)}")

    # ---- c first: peak memory, 1,000,000 stein2019 patients x 3 scenarios (ru_maxrss of children is a running
    # maximum, so the largest run is measured before any other child of this process).
    scenarios = ctx.out / "vpop_stein2019_scenarios.toml"
    scenarios.write_text(VPOP_STEIN_SCENARIOS)
    stein_args = lambda n, out: ["--model", "stein2019", "--n", n, "--scenarios", scenarios] + VPOP_STEIN_GRID + [
        "--out", out]
    big = ctx.out / "vpop_stein2019_memory.h5"
    print(f"vpop: memory, cartpk vpop stein2019 {a.vpop_memory_n:,} patients x 3 scenarios, all cores ...", flush=True)
    mem = vpop_run(ctx, stein_args(a.vpop_memory_n, big), 0)
    with ChildUsage() as u:
        pass
    mem["max_rss_gb"] = u.maxrss_kb / 1024 ** 2
    mem["file_mb"] = big.stat().st_size / 1024 ** 2
    big.unlink()
    mem_met = mem["max_rss_gb"] <= VPOP_MEMORY_TARGET_GB
    results["memory"] = mem

    # ---- a: stein2019 closed form, 100,000 patients x 3 scenarios, 100 output times
    runs = {}
    for label, threads, ranks in VPOP_LAYOUTS[:4 if mpi_ok else 2]:
        out = ctx.out / f"vpop_stein2019_{threads}t{ranks}r{'m' if label in VPOP_MPI else ''}.h5"
        print(f"vpop: cartpk vpop stein2019 {a.vpop_n:,} patients x 3 scenarios, {label} (best of "
              f"{a.vpop_repeats}) ...", flush=True)
        runs[label] = best_vpop_run(ctx, stein_args(a.vpop_n, out), threads, ranks, label in VPOP_MPI, a.vpop_repeats)
        runs[label]["out"] = str(out)
    times = ",".join(str(4 * i) for i in range(100))
    print(f"vpop: peer_vpop.py stein2019 (NumPy, best of {a.vpop_peer_repeats}) ...", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    peer_cmd = [sys.executable, HERE / "peer_vpop.py", "stein2019", "--n", a.vpop_n, "--times", times,
                "--cmax", VPOP_STEIN_CMAX, "--repeats", a.vpop_peer_repeats]
    proc = subprocess.run([str(c) for c in peer_cmd], capture_output=True, text=True, timeout=a.timeout, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise BenchError("peer_vpop.py stein2019 failed")
    peer = json.loads(proc.stdout)
    # Sanity: the two samples are independent, so compare medians (sampling error ~0.5 % at 100,000 patients).
    import h5py
    one = runs["1 thread"]["out"]
    with h5py.File(one, "r") as f:
        names = [s.decode() if isinstance(s, bytes) else s for s in f["/vpop"].attrs["scenarios"]]
        band = [f[f"/vpop/scenarios/{s}/bands/qpcr"][2] for s in names]
        mcols = [c.decode() if isinstance(c, bytes) else c for c in f[f"/vpop/scenarios/{names[0]}/metric_quantiles"].attrs["metrics"]]
        mmed = [dict(zip(mcols, f[f"/vpop/scenarios/{s}/metric_quantiles"][:, 2])) for s in names]
        rejected_cartpk = int(f["/vpop/patients/rejected_draws"][:].sum())
    check_band = max(max_rel_diff(band[k], peer["summary"]["qpcr_median_band"][k]) for k in range(len(names)))
    check_metric = max(abs(mmed[k][m] / v - 1) for k in range(len(names))
                       for m, v in peer["summary"]["metric_medians"][k].items() if m in mmed[k] and v)
    same = {label: same_numbers(h5_numbers(one), h5_numbers(r["out"])) for label, r in runs.items() if label != "1 thread"}
    stein_ok = bool(max(check_band, check_metric) <= VPOP_CHECK_TOL and all(same.values()))
    peer_rate = peer["patients_per_second"]
    base = runs["1 thread"]
    scaling = vpop_scaling(runs)
    rows = []
    for label, r in runs.items():
        eff, eff_cpu, _ = scaling.get(label, (None, None, None))
        rows.append([f"cartpk {label}", f"{r['patients']:,}", fmt_s(r["wall"]), fmt_s(r["cpu"]),
                     fmt_rate(r["per_core_wall"]), fmt_rate(r["per_core_run"]), fmt_rate(r["per_cpu_second"]),
                     f"{r['per_core_wall'] / peer_rate:.2f}x", "-" if eff is None else f"{100 * eff:.0f} %",
                     "-" if eff_cpu is None else f"{100 * eff_cpu:.0f} %",
                     "-" if label not in same else ("yes" if same[label] else "NO")])
    rows.append(["NumPy peer (1 core)", f"{peer['patients']:,}", fmt_s(peer["seconds"]), "-", fmt_rate(peer_rate),
                 "-", "-", "1x", "-", "-", "-"])
    ratio_stein = base["per_core_wall"] / peer_rate
    ratios["stein2019_per_core_vs_numpy"] = ratio_stein
    ratios.update({f"stein2019_scaling_{k.replace(' ', '_')}": v[0] for k, v in scaling.items()})
    print()
    print_table(f"vpop a: stein2019 closed form, {a.vpop_n:,} patients x 3 scenarios (base, cmax x0.5, x2), "
                "100 output times, metrics + bands + HDF5 output",
                ["run", "patients", "wall", "CPU", "pat/s/core", "(run only)", "pat/CPU-s", "vs peer",
                 "scaling", "(CPU)", "same numbers"], rows)
    print("  pat/s/core: patients / (whole-process wall x cores); (run only): the same over /vpop/run_seconds "
          "(sampling, solving, summaries, streaming output; no start-up); pat/CPU-s: over user + sys time; "
          "scaling: pat/s/core relative to 1 thread, and 2 ranks to 1 rank under mpirun (= speed-up / 2); (CPU): the "
          "same in pat/CPU-s (the extra work "
          "of running in parallel, whatever else the machine runs)")
    print(f"  target >= {VPOP_STEIN_TARGET:g}x the NumPy peer per core: "
          + ("met" if ratio_stein >= VPOP_STEIN_TARGET else "NOT met") + f" ({ratio_stein:.2f}x); scaling >= "
          f"{100 * VPOP_SCALING_TARGET:.0f} %: " + ", ".join(
              f"{k} {100 * v[0]:.0f} % " + ("met" if v[0] >= VPOP_SCALING_TARGET else "NOT met") for k, v in scaling.items()))
    print_plain_process_scaling(scaling)
    print(f"  check vs the NumPy peer (independent samples): median qPCR band max rel. diff {check_band:.2e}, "
          f"metric medians {check_metric:.2e} (limit {VPOP_CHECK_TOL:g}); rejected draws: cartpk "
          f"{rejected_cartpk}, peer {peer['summary']['rejected_draws']}")
    if not stein_ok:
        print("  FAIL: cartpk and the peer disagree, or the runs' numbers differ between thread/rank counts")
    if not mpi_ok:
        print(f"  MPI rows skipped: {mpi_why}")
    print()
    results["stein2019"] = {"runs": runs, "peer": peer, "check_band": check_band, "check_metric_medians": check_metric,
                            "same_numbers": same, "ratio_per_core": ratio_stein, "scaling": scaling}
    ok = ok and stein_ok

    # ---- b: cart_cd19_bcma, two years daily, 2,000 patients x 3 doses
    iiv = HERE.parent / "examples" / "iiv_cart_cd19_bcma.toml"
    m2_args = lambda n, out: ["--model", "cart_cd19_bcma", "--iiv", iiv, "--n", n, "--dose-per-kg", VPOP_M2_DOSES] + \
        VPOP_M2_GRID + ["--keep-trajectories", VPOP_M2_KEPT, "--out", out]
    m2_runs = {}
    for label, threads, ranks in VPOP_LAYOUTS[:4 if mpi_ok else 2]:
        out = ctx.out / f"vpop_cart_cd19_bcma_{threads}t{ranks}r{'m' if label in VPOP_MPI else ''}.h5"
        print(f"vpop: cartpk vpop cart_cd19_bcma {a.vpop_m2_n:,} patients x 3 doses, {label} (best of "
              f"{a.vpop_repeats}) ...", flush=True)
        m2_runs[label] = best_vpop_run(ctx, m2_args(a.vpop_m2_n, out), threads, ranks, label in VPOP_MPI,
                                       a.vpop_repeats)
        m2_runs[label]["out"] = str(out)
    # Bare solves: bench_cart_cd19_bcma (the model's defaults, 1e6 cells/kg, days 0..730 daily, CVODES defaults),
    # and the same patient through the whole vpop machinery (negligible variability, three identical scenarios).
    bench_exe = ctx.build / "bench" / "bench_cart_cd19_bcma"
    if not bench_exe.is_file():
        raise BenchError(f"{bench_exe} not found (build it first: make build)")
    typical_iiv = ctx.out / "vpop_iiv_negligible.toml"
    typical_iiv.write_text("# every patient is the typical patient (a variance no draw can see)\n"
                           "[iiv]\nrho = { omega2 = 1e-30 }\n")
    same_sc = ctx.out / "vpop_same_dose_scenarios.toml"
    same_sc.write_text("".join(f"[scenario.dose_1e6_{k}]\ndose_per_kg = 1e6\n\n" for k in "abc"))
    out = ctx.out / "vpop_cart_cd19_bcma_typical.h5"
    # As many typical patients as the population run has (2,000 x 3): the run's fixed costs (per-thread sketches,
    # their merge) weigh on each solve as they do there, not 20 times more as in a 100-patient run.
    n_typ = a.vpop_m2_n
    # The population's own patients, bare: the 1-thread run's parameters and weights, solved at the same doses by
    # bench_cart_cd19_bcma (the same solver and grid; its first solve is checked against the run's kept curve).
    population_csv = ctx.out / "vpop_cart_cd19_bcma_patients.csv"
    write_population_csv(m2_runs["1 thread"]["out"], population_csv)
    pop_out = ctx.out / "vpop_cart_cd19_bcma_rounds.h5"
    # Interleaved rounds, the best of each kept: other processes on the machine slow either side at random.
    bare_rounds, typ_rounds, pop_bare_rounds, pop_rounds, weekly_bare_rounds, weekly_rounds = [], [], [], [], [], []
    m2_weekly_args = lambda n, out: ["--model", "cart_cd19_bcma", "--iiv", iiv, "--n", n, "--dose-per-kg",
                                     VPOP_M2_DOSES, "--end", "730", "--step", "7", "--out", out]
    for k in range(a.vpop_overhead_rounds):
        print(f"vpop: round {k + 1}/{a.vpop_overhead_rounds}: bench_cart_cd19_bcma ({a.vpop_bare_repeats} bare "
              f"solves of the typical patient, and the {a.vpop_m2_n} population patients x 3 doses), and cartpk vpop "
              f"of each ({n_typ} x 3 scenarios, 1 thread) ...", flush=True)
        bare_json = run_json([bench_exe, "--repeats", a.vpop_bare_repeats, "--population", population_csv,
                              "--doses", VPOP_M2_DOSES], a.timeout)
        bare_rounds.append(bare_json["ode"])
        pop_bare_rounds.append(bare_json["population"])
        typ_rounds.append(vpop_run(ctx, ["--model", "cart_cd19_bcma", "--iiv", typical_iiv, "--n", n_typ,
                                         "--scenarios", same_sc] + VPOP_M2_GRID + ["--out", out], 1))
        pop_rounds.append(vpop_run(ctx, m2_args(a.vpop_m2_n, pop_out), 1))
        # The same on a weekly grid: the bands' cost is per band point (6 observables x output times).
        weekly_bare_rounds.append(run_json([bench_exe, "--repeats", 1, "--population", population_csv, "--doses",
                                            VPOP_M2_DOSES, "--step", 7], a.timeout)["population"])
        weekly_rounds.append(vpop_run(ctx, m2_weekly_args(a.vpop_m2_n, pop_out), 1))
    first_curve_same = same_first_curve(m2_runs["1 thread"]["out"], pop_bare_rounds[0]["first"])
    pop_bare = min(r["seconds"] for r in pop_bare_rounds)
    pop_run = min(r["run_seconds"] for r in pop_rounds)
    overhead_population = pop_run / pop_bare - 1
    weekly_bare = min(r["seconds"] for r in weekly_bare_rounds)
    weekly_run = min(r["run_seconds"] for r in weekly_rounds)
    overhead_weekly = weekly_run / weekly_bare - 1
    bare = min(bare_rounds, key=lambda r: r["seconds"])
    bare_solve = bare["seconds"] / bare["solves"]
    typ = min(typ_rounds, key=lambda r: r["run_seconds"])
    typ["wall"] = min(r["wall"] for r in typ_rounds)
    typ_solve_run = typ["run_seconds"] / (3 * n_typ)
    typ_solve_wall = typ["wall"] / (3 * n_typ)
    overhead_run = typ_solve_run / bare_solve - 1
    overhead_wall = typ_solve_wall / bare_solve - 1
    # The SciPy LSODA peer on a subset, and the accuracy of both against a tight reference at cartpk's patients.
    print(f"vpop: peer_vpop.py cart_cd19_bcma (SciPy LSODA, {a.vpop_m2_peer_n} patients x 3 doses; and the "
          "accuracy check) ...", flush=True)
    m2_peer = run_json([sys.executable, HERE / "peer_vpop.py", "cart_cd19_bcma", "--n", a.vpop_m2_peer_n,
                        "--iiv", iiv, "--doses", VPOP_M2_DOSES, "--end", "730", "--step", "1",
                        "--rtol", VPOP_M2_PEER_RTOL, "--atol-scale", VPOP_M2_PEER_ATOL_SCALE,
                        "--check-h5", m2_runs["1 thread"]["out"], "--check-patients", VPOP_M2_KEPT], a.timeout)
    acc = m2_peer["check"]
    m2_same = {label: same_numbers(h5_numbers(m2_runs["1 thread"]["out"]), h5_numbers(r["out"]))
               for label, r in m2_runs.items() if label != "1 thread"}
    m2_ok = acc["cartpk_max_rel_err"] <= VPOP_M2_CHECK_TOL and all(m2_same.values()) and first_curve_same
    m2_peer_rate = m2_peer["patients_per_second"]
    m2_base = m2_runs["1 thread"]
    m2_scaling = vpop_scaling(m2_runs)
    rows = []
    for label, r in m2_runs.items():
        eff, eff_cpu, _ = m2_scaling.get(label, (None, None, None))
        rows.append([f"cartpk {label}", f"{r['patients']:,}", fmt_s(r["wall"]), fmt_s(r["cpu"]),
                     fmt_rate(r["per_core_wall"]), fmt_rate(r["per_core_run"]), fmt_rate(r["per_cpu_second"]),
                     f"{r['per_core_wall'] / m2_peer_rate:,.1f}x", "-" if eff is None else f"{100 * eff:.0f} %",
                     "-" if eff_cpu is None else f"{100 * eff_cpu:.0f} %",
                     "-" if label not in m2_same else ("yes" if m2_same[label] else "NO")])
    rows.append(["SciPy LSODA peer (1 core)", f"{m2_peer['patients']:,}", fmt_s(m2_peer["seconds"]), "-",
                 fmt_rate(m2_peer_rate), "-", "-", "1x", "-", "-", "-"])
    ratio_m2 = m2_base["per_core_wall"] / m2_peer_rate
    ratios["cart_cd19_bcma_per_core_vs_lsoda"] = ratio_m2
    ratios.update({f"cart_cd19_bcma_scaling_{k.replace(' ', '_')}": v[0] for k, v in m2_scaling.items()})
    ratios["cart_cd19_bcma_overhead_vs_bare_solve"] = overhead_population
    ratios["cart_cd19_bcma_overhead_typical_patient"] = overhead_run
    ratios["cart_cd19_bcma_overhead_weekly_grid"] = overhead_weekly
    pop_solve = m2_base["run_seconds"] / (3 * m2_base["patients"])
    print()
    print_table(f"vpop b: cart_cd19_bcma, {a.vpop_m2_n:,} patients x 3 doses ({VPOP_M2_DOSES} cells/kg), days "
                "0..730 daily (731 outputs), examples/iiv_cart_cd19_bcma.toml",
                ["run", "patients", "wall", "CPU", "pat/s/core", "(run only)", "pat/CPU-s", "vs peer", "scaling",
                 "(CPU)", "same numbers"], rows)
    print(f"  scaling >= {100 * VPOP_SCALING_TARGET:.0f} %: " + ", ".join(
        f"{k} {100 * v[0]:.0f} % " + ("met" if v[0] >= VPOP_SCALING_TARGET else "NOT met") for k, v in m2_scaling.items()))
    print_plain_process_scaling(m2_scaling)
    print(f"  bare solve (bench_cart_cd19_bcma, the model's defaults, 1e6 cells/kg, same grid and tolerances): "
          f"{1e3 * bare_solve:.2f} ms/solve ({bare['solves']} solves; best of {a.vpop_overhead_rounds} rounds)")
    print(f"  the same patient through cartpk vpop ({n_typ} x 3 scenarios, 1 thread, best of the interleaved rounds): {1e3 * typ_solve_run:.2f} ms per "
          f"patient-scenario (run only), {1e3 * typ_solve_wall:.2f} ms whole process; population machinery "
          f"(sampling, metrics, bands, events, output): {100 * overhead_run:+.1f} % (run only), "
          f"{100 * overhead_wall:+.1f} % whole process")
    print(f"  the population's own {a.vpop_m2_n} patients x 3 doses: bare solves (bench_cart_cd19_bcma --population; "
          f"its first curve equals the run's kept one: {'yes' if first_curve_same else 'NO'}) {fmt_s(pop_bare)}, "
          f"through cartpk vpop (1 thread, run only) {fmt_s(pop_run)} (best of {a.vpop_overhead_rounds} interleaved "
          f"rounds each): population machinery {100 * overhead_population:+.1f} %; target <= "
          f"{100 * VPOP_OVERHEAD_TARGET:.0f} %: " + ("met" if overhead_population <= VPOP_OVERHEAD_TARGET else "NOT met"))
    print(f"  the same on a weekly grid (days 0, 7, ..., 728: 105 outputs, 630 band points a scenario instead of 4,386): "
          f"bare {fmt_s(weekly_bare)}, through cartpk vpop {fmt_s(weekly_run)}: population machinery "
          f"{100 * overhead_weekly:+.1f} % (" + ("within" if overhead_weekly <= VPOP_OVERHEAD_TARGET else "over")
          + f" {100 * VPOP_OVERHEAD_TARGET:.0f} %; the bands cost per band point)")
    print(f"  population patients (1 thread): {1e3 * pop_solve:.2f} ms per patient-scenario (run only; their "
          "parameters vary, so their solves differ from the typical patient's)")
    print(f"  accuracy against a tight reference (LSODA rtol {acc['reference']['rtol']:g}, atol "
          f"{acc['reference']['atol_scale']:g} x state scales) at cartpk's first {acc['patients']} patients x 3 doses, "
          f"731 days, 5 observables (relative; absolute below 1e-6): cartpk (CVODES rtol 1e-8, atol 1e-12 x scales) "
          f"{acc['cartpk_max_rel_err']:.1e}, peer (LSODA rtol {VPOP_M2_PEER_RTOL:g}, atol {VPOP_M2_PEER_ATOL_SCALE:g} "
          f"x scales) {acc['peer_max_rel_err']:.1e}")
    if not m2_ok:
        print(f"  FAIL: cartpk's trajectories are off by more than {VPOP_M2_CHECK_TOL:g}, or the runs' numbers differ "
              "between thread/rank counts")
    if not mpi_ok:
        print(f"  MPI rows skipped: {mpi_why}")
    print()
    results["cart_cd19_bcma"] = {"runs": m2_runs, "peer": m2_peer, "same_numbers": m2_same, "ratio_per_core": ratio_m2,
                                 "scaling": m2_scaling, "bare": bare, "bare_seconds_per_solve": bare_solve,
                                 "typical_patient_run": typ, "bare_rounds": bare_rounds,
                                 "typical_patient_rounds": typ_rounds, "overhead_run_only": overhead_run,
                                 "population_bare_rounds": [{k: v for k, v in r.items() if k != "first"}
                                                            for r in pop_bare_rounds],
                                 "population_rounds": pop_rounds, "overhead_population": overhead_population,
                                 "population_first_curve_same": first_curve_same,
                                 "weekly_bare_rounds": weekly_bare_rounds, "weekly_rounds": weekly_rounds,
                                 "overhead_weekly_grid": overhead_weekly,
                                 "overhead_whole_process": overhead_wall, "accuracy": acc}
    ok = ok and m2_ok

    print_table(f"vpop c: peak memory, stein2019 {a.vpop_memory_n:,} patients x 3 scenarios, 100 outputs, all cores",
                ["run", "wall", "CPU", "max RSS", "HDF5 file", "target"],
                [[f"cartpk ({os.cpu_count()} threads)", fmt_s(mem["wall"]), fmt_s(mem["cpu"]),
                  f"{mem['max_rss_gb']:.2f} GB", f"{mem['file_mb']:.0f} MB",
                  f"<= {VPOP_MEMORY_TARGET_GB:g} GB " + ("met" if mem_met else "NOT met")]])
    ratios["memory_gb_1m_patients"] = mem["max_rss_gb"]
    print()
    print(f"vpop ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(f"  (load average when the section started: {load:.2f} on {os.cpu_count()} cores; other processes "
          "competing for the cores lower the wall-clock rates, not the CPU-second ones)")
    print()
    results.update({"ok": ok, "ratios": ratios, "mpi": {"available": mpi_ok, "why_not": mpi_why},
                    "targets": {"stein_per_core": VPOP_STEIN_TARGET, "scaling": VPOP_SCALING_TARGET,
                                "overhead": VPOP_OVERHEAD_TARGET, "memory_gb": VPOP_MEMORY_TARGET_GB}})
    return results


# --------------------------------------------------------------------------------------------------------------
# Virtual trials

TRIAL_MAX_SECONDS = 1.0  # the trial layer (replicates and summaries), after the pool exists


def bench_trial(ctx):
    import h5py
    a = ctx.args
    exe = cartpk_exe(ctx)
    pool = ctx.out / f"trial_pool_cart_cd19_bcma_{a.trial_pool}.h5"
    if not pool.is_file():
        print(f"trial: building the pool once ({a.trial_pool} cart_cd19_bcma patients, 1e6 cells/kg) ...", flush=True)
        run_timed([exe, "vpop", "--quiet", "--model", "cart_cd19_bcma", "--iiv", HERE.parent / "examples" /
                   "iiv_cart_cd19_bcma.toml", "--n", a.trial_pool, "--dose-per-kg", "1e6", "--end", "120",
                   "--step", "1", "--out", pool], a.timeout)
    out = ctx.out / "trial.h5"
    wall, layer = [], []
    for _ in range(a.trial_repeats):
        wall.append(run_timed([exe, "trial", "--vpop", pool, "--design", HERE.parent / "examples" / "trial_design.toml",
                               "--replicates", a.trial_replicates, "--out", out], a.timeout))
        with h5py.File(out, "r") as f:
            layer.append(float(f["trial"].attrs["trial_seconds"]))
            p_success, se = float(f["trial/p_success"][0]), float(f["trial/p_success_se"][0])
    best = min(layer)
    met = best < TRIAL_MAX_SECONDS
    print()
    print_table(f"trial: {a.trial_replicates:,} replicates on a {a.trial_pool:,}-patient pool (best of "
                f"{a.trial_repeats}); target: trial layer < {TRIAL_MAX_SECONDS:g} s",
                ["case", "trial layer", "whole process", "P(success)", "target"],
                [["registered design", f"{best * 1e3:.1f} ms", f"{min(wall) * 1e3:.0f} ms", f"{p_success:.4f} ({se:.4f})",
                  "met" if met else "NOT met"]])
    print()
    return {"ok": True, "trial_seconds": best, "trial_all_seconds": layer, "process_seconds": min(wall),
            "replicates": a.trial_replicates, "pool_patients": a.trial_pool, "p_success": p_success,
            "p_success_se": se, "target": {"max_seconds": TRIAL_MAX_SECONDS, "met": met}}


# --------------------------------------------------------------------------------------------------------------
# hardiansyah2019 (published model P1): bench_models against a SciPy LSODA peer

HARD_DOSES = "0:0.1,1:0.3,2:0.6"           # UPN3's split dose, fractions of the model's `dose` (1.4e7 cells)
HARD_CHECK_TIMES = (7, 14, 21, 28, 60)      # days: expansion, IL-6 peak, CAR-T peak, B-cell depletion
HARD_CHECK_TOL = 1e-5                       # cartpk at its default tolerances vs the tight SciPy reference


def bench_hardiansyah2019(ctx):
    a = ctx.args
    exe = ctx.build / "bench" / "bench_models"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    times = ",".join(str(t) for t in HARD_CHECK_TIMES)
    print(f"hardiansyah2019: running {exe.name} ({a.hard_repeats} solves per case) ...", flush=True)
    cartpk = run_json([exe, "--model", "hardiansyah2019", "--doses", HARD_DOSES, "--end", 60, "--step", 0.25,
                       "--repeats", a.hard_repeats, "--check-times", times], a.timeout)
    print(f"hardiansyah2019: running peer_hardiansyah2019.py ({a.hard_peer_repeats} LSODA solves) ...", flush=True)
    peer = run_json([sys.executable, HERE / "peer_hardiansyah2019.py", "--repeats", a.hard_peer_repeats,
                     "--end", 60, "--step", 0.25, "--check-times", times], a.timeout)
    for case in ("ode", "ode_sens"):
        if "solves_per_second" not in cartpk.get(case, {}):
            raise BenchError(f"bench_models output lacks case '{case}'")
    if "solves_per_second" not in peer.get("scipy_lsoda", {}):
        raise BenchError("peer_hardiansyah2019.py output lacks case 'scipy_lsoda'")
    observables = [k for k in peer["check"] if k != "times"]
    check = {obs: max_rel_diff(cartpk["check"][obs], peer["check"][obs]) for obs in observables}
    worst = max(check.values())
    r_peer = peer["scipy_lsoda"]["solves_per_second"]
    ratios = {case: cartpk[case]["solves_per_second"] / r_peer for case in ("ode", "ode_sens")}
    rows = [[case, cartpk[case]["solves"], fmt_rate(cartpk[case]["solves_per_second"]), cartpk[case]["steps"],
             "scipy_lsoda", peer["scipy_lsoda"]["solves"], fmt_rate(r_peer), f"{ratios[case]:,.1f}x"]
            for case in ("ode", "ode_sens")]
    print()
    print_table("hardiansyah2019: 60 days, 241 outputs, published values (UPN3), split dose "
                "(ratio = cartpk solves/s / peer solves/s; both rtol 1e-8, atol 1e-12 x state scale)",
                ["cartpk case", "solves", "solves/s", "steps", "peer", "solves", "solves/s", "ratio"], rows)
    print(f"  (ode_sens also computes sensitivities w.r.t. {', '.join(cartpk['sensitivity_parameters'])}, "
          "which the peer does not)")
    print("  check, max relative difference vs the tight SciPy reference at days " + times + ": "
          + ", ".join(f"{k} {v:.1e}" for k, v in check.items()))
    ok = worst <= HARD_CHECK_TOL
    if not ok:
        print(f"  FAIL: cartpk disagrees with the SciPy reference by {worst:.2e} > {HARD_CHECK_TOL:g}")
    print()
    return {"ok": ok, "inputs": {"model": "hardiansyah2019", "doses": HARD_DOSES, "times": "0,0.25,...,60 days",
                                 "cartpk_repeats": a.hard_repeats, "peer_repeats": a.hard_peer_repeats},
            "cartpk": cartpk, "peer": peer, "ratios": ratios, "check_max_rel_diff": check}


# --------------------------------------------------------------------------------------------------------------
# muellerschoell2021 (published model P3): bench_models against a SciPy LSODA peer

MS_CHECK_TIMES = (7, 14, 28, 90, 180)   # days: expansion, peak, contraction, tumour nadir, late (CAR-T ~5e-5)
MS_CHECK_TOL = 1e-5                      # cartpk at its default tolerances vs the tight SciPy reference


def bench_muellerschoell2021(ctx):
    a = ctx.args
    exe = ctx.build / "bench" / "bench_models"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    times = ",".join(str(t) for t in MS_CHECK_TIMES)
    print(f"muellerschoell2021: running {exe.name} ({a.ms_repeats} solves per case) ...", flush=True)
    cartpk = run_json([exe, "--model", "muellerschoell2021", "--end", 365, "--step", 0.25,
                       "--repeats", a.ms_repeats, "--check-times", times], a.timeout)
    print(f"muellerschoell2021: running peer_muellerschoell2021.py ({a.ms_peer_repeats} LSODA solves) ...",
          flush=True)
    peer = run_json([sys.executable, HERE / "peer_muellerschoell2021.py", "--repeats", a.ms_peer_repeats,
                     "--end", 365, "--step", 0.25, "--check-times", times], a.timeout)
    for case in ("ode", "ode_sens"):
        if "solves_per_second" not in cartpk.get(case, {}):
            raise BenchError(f"bench_models output lacks case '{case}'")
    if "solves_per_second" not in peer.get("scipy_lsoda", {}):
        raise BenchError("peer_muellerschoell2021.py output lacks case 'scipy_lsoda'")
    observables = [k for k in peer["check"] if k != "times"]
    check = {obs: max_rel_diff(cartpk["check"][obs], peer["check"][obs]) for obs in observables}
    worst = max(check.values())
    r_peer = peer["scipy_lsoda"]["solves_per_second"]
    ratios = {case: cartpk[case]["solves_per_second"] / r_peer for case in ("ode", "ode_sens")}
    rows = [[case, cartpk[case]["solves"], fmt_rate(cartpk[case]["solves_per_second"]), cartpk[case]["steps"],
             "scipy_lsoda", peer["scipy_lsoda"]["solves"], fmt_rate(r_peer), f"{ratios[case]:,.1f}x"]
            for case in ("ode", "ode_sens")]
    print()
    print_table("muellerschoell2021: 365 days, 1461 outputs, published values (reference class, tumour 85.7 mL) "
                "(ratio = cartpk solves/s / peer solves/s; both rtol 1e-8, atol 1e-12 x state scale)",
                ["cartpk case", "solves", "solves/s", "steps", "peer", "solves", "solves/s", "ratio"], rows)
    print(f"  (ode_sens also computes sensitivities w.r.t. {', '.join(cartpk['sensitivity_parameters'])}, "
          "which the peer does not)")
    print("  check, max relative difference vs the tight SciPy reference at days " + times + ": "
          + ", ".join(f"{k} {v:.1e}" for k, v in check.items()))
    ok = worst <= MS_CHECK_TOL
    if not ok:
        print(f"  FAIL: cartpk disagrees with the SciPy reference by {worst:.2e} > {MS_CHECK_TOL:g}")
    print()
    return {"ok": ok, "inputs": {"model": "muellerschoell2021", "times": "0,0.25,...,365 days",
                                 "cartpk_repeats": a.ms_repeats, "peer_repeats": a.ms_peer_repeats},
            "cartpk": cartpk, "peer": peer, "ratios": ratios, "check_max_rel_diff": check}


# --------------------------------------------------------------------------------------------------------------
# singh2021_idecel (published model P2): bench_models against a SciPy LSODA peer

SINGH_CHECK_TIMES = (1, 14, 28, 67, 180, 365)  # days: distribution, expansion peak, contraction, tumour nadir, late
SINGH_CHECK_TOL = 1e-5                         # cartpk at its default tolerances vs the tight SciPy reference


def bench_singh2021_idecel(ctx):
    a = ctx.args
    exe = ctx.build / "bench" / "bench_models"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first: make build)")
    times = ",".join(str(t) for t in SINGH_CHECK_TIMES)
    grid = ["--model", "singh2021_idecel", "--end", 365, "--step", 0.25]  # one dose: the model's 150e6 cells
    all_repeats = max(1, a.singh_repeats // 10)
    print(f"singh2021_idecel: running {exe.name} ({a.singh_repeats} solves per case, {all_repeats} with all "
          "sensitivities) ...", flush=True)
    cartpk = run_json([exe, *grid, "--repeats", a.singh_repeats, "--check-times", times], a.timeout)
    cartpk_all = run_json([exe, *grid, "--repeats", all_repeats, "--sens", "all", "--check-times", times], a.timeout)
    print(f"singh2021_idecel: running peer_singh2021_idecel.py ({a.singh_peer_repeats} LSODA solves) ...",
          flush=True)
    peer = run_json([sys.executable, HERE / "peer_singh2021_idecel.py", "--repeats", a.singh_peer_repeats,
                     "--end", 365, "--step", 0.25, "--check-times", times], a.timeout)
    for out in (cartpk, cartpk_all):
        for case in ("ode", "ode_sens"):
            if "solves_per_second" not in out.get(case, {}):
                raise BenchError(f"bench_models output lacks case '{case}'")
    if "solves_per_second" not in peer.get("scipy_lsoda", {}):
        raise BenchError("peer_singh2021_idecel.py output lacks case 'scipy_lsoda'")
    cases = {"ode": cartpk["ode"], f"ode_sens{len(cartpk['sensitivity_parameters'])}": cartpk["ode_sens"],
             f"ode_sens{len(cartpk_all['sensitivity_parameters'])} (all)": cartpk_all["ode_sens"]}
    observables = [k for k in peer["check"] if k != "times"]
    check = {obs: max_rel_diff(cartpk["check"][obs], peer["check"][obs]) for obs in observables}
    worst = max(check.values())
    r_peer = peer["scipy_lsoda"]["solves_per_second"]
    ratios = {case: c["solves_per_second"] / r_peer for case, c in cases.items()}
    rows = [[case, c["solves"], f"{1e3 / c['solves_per_second']:.2f}", c["steps"], "scipy_lsoda",
             peer["scipy_lsoda"]["solves"], f"{1e3 / r_peer:.1f}", f"{ratios[case]:,.1f}x"]
            for case, c in cases.items()]
    print()
    print_table("singh2021_idecel: 365 days, 1461 outputs, published typical values, 150e6 CAR+ cells "
                "(ratio = peer ms per solve / cartpk ms per solve; both rtol 1e-8, atol 1e-12 x state scale)",
                ["cartpk case", "solves", "ms/solve", "steps", "peer", "solves", "ms/solve", "ratio"], rows)
    print(f"  (the ode_sens cases also compute sensitivities, w.r.t. {', '.join(cartpk['sensitivity_parameters'])} "
          "(the paper's estimates) or all parameters; the peer computes none)")
    print("  check, max relative difference vs the tight SciPy reference at days " + times + ": "
          + ", ".join(f"{k} {v:.1e}" for k, v in check.items()))
    ok = worst <= SINGH_CHECK_TOL
    if not ok:
        print(f"  FAIL: cartpk disagrees with the SciPy reference by {worst:.2e} > {SINGH_CHECK_TOL:g}")
    print()
    return {"ok": ok, "inputs": {"model": "singh2021_idecel", "dose": "150e6 CAR+ cells at day 0",
                                 "times": "0,0.25,...,365 days", "cartpk_repeats": a.singh_repeats,
                                 "cartpk_all_sens_repeats": all_repeats, "peer_repeats": a.singh_peer_repeats},
            "cartpk": cartpk, "cartpk_all_sensitivities": cartpk_all, "peer": peer, "ratios": ratios,
            "check_max_rel_diff": check}


# --------------------------------------------------------------------------------------------------------------

def bench_solver(ctx):
    import solver_lsoda  # bench/solver_lsoda.py
    return solver_lsoda.run(ctx, BenchError, run_json, print_table)


def bench_rtol_rule(ctx):
    sys.path.insert(0, str(HERE))
    import rtol_rule  # bench/rtol_rule.py: the fit's default ODE tolerance
    sys.argv = ["rtol_rule.py", str(ctx.build)]
    return {"ok": True, **rtol_rule.main()}


def bench_popfit(ctx):
    sys.path.insert(0, str(HERE))
    import popfit_bench
    return popfit_bench.bench_popfit(ctx, cartpk_exe(ctx), print_table, ctx.args.timeout)


BENCHMARKS = {
    "stein2019": bench_stein2019,
    "cart_cd19_bcma": bench_cart_cd19_bcma,
    "fit_objective": bench_fit_objective,
    "fit_stein2019": bench_fit_stein2019,
    "fit_cart_cd19_bcma": bench_fit_cart_cd19_bcma,
    "design": bench_design,
    "vpop": bench_vpop,
    "trial": bench_trial,
    "hardiansyah2019": bench_hardiansyah2019,
    "muellerschoell2021": bench_muellerschoell2021,
    "singh2021_idecel": bench_singh2021_idecel,
    "solver": bench_solver,
    "popfit": bench_popfit,
    "rtol_rule": bench_rtol_rule,
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
    ap.add_argument("--fit-patients", type=int, default=24,
                    help="fit_stein2019: simulated patients (default 24)")
    ap.add_argument("--fit-repeats", type=int, default=5,
                    help="fit_stein2019: timed cartpk runs, the best is reported (default 5)")
    ap.add_argument("--fit-m2-patients", type=int, default=6,
                    help="fit_cart_cd19_bcma: simulated patients (default 6)")
    ap.add_argument("--fit-m2-starts", type=int, default=3, help="fit_cart_cd19_bcma: starts per patient (default 3)")
    ap.add_argument("--fit-m2-peer-patients", type=int, default=6,
                    help="fit_cart_cd19_bcma: patients given to the slow SciPy peer; its time is scaled to all "
                         "(default 6)")
    ap.add_argument("--fit-m2-r-patients", type=int, default=4,
                    help="fit_cart_cd19_bcma: patients of the comparison with the compiled-R peer (issue 12; "
                         "default 4; 0 skips it)")
    ap.add_argument("--fit-m2-r-repeats", type=int, default=3,
                    help="fit_cart_cd19_bcma: timed runs of cartpk and of the R peer in that comparison, the best "
                         "of each is reported (default 3)")
    ap.add_argument("--fit-timeout", type=float, default=180,
                    help="seconds allowed per cartpk fit run in the fit_* benchmarks (default 180; they need ~0.3 s "
                         "and ~30 s); a run over the limit is killed and the benchmark fails")
    ap.add_argument("--design-repeats", type=int, default=5,
                    help="design: timed cartpk runs per search, the best is reported (default 5)")
    ap.add_argument("--vpop-n", type=int, default=100000,
                    help="vpop: stein2019 patients (3 scenarios each) for the NumPy comparison (default 100000)")
    ap.add_argument("--vpop-repeats", type=int, default=3,
                    help="vpop: runs of each thread/rank layout, the fastest kept (default 3)")
    ap.add_argument("--vpop-peer-repeats", type=int, default=3,
                    help="vpop: timed runs of the NumPy peer, the best is reported (default 3)")
    ap.add_argument("--vpop-m2-n", type=int, default=2000,
                    help="vpop: cart_cd19_bcma patients (3 doses each) (default 2000)")
    ap.add_argument("--vpop-m2-peer-n", type=int, default=20,
                    help="vpop: cart_cd19_bcma patients given to the slow SciPy LSODA peer (default 20)")
    ap.add_argument("--vpop-bare-repeats", type=int, default=1000,
                    help="vpop: bare cart_cd19_bcma solves timed per round, against the typical patient through "
                         "vpop (--vpop-m2-n patients x 3 scenarios) (default 1000)")
    ap.add_argument("--vpop-overhead-rounds", type=int, default=3,
                    help="vpop: interleaved rounds of bare and typical-patient solves, the best of each kept "
                         "(default 3)")
    ap.add_argument("--vpop-memory-n", type=int, default=1000000,
                    help="vpop: stein2019 patients (3 scenarios each) of the peak-memory run (default 1000000)")
    ap.add_argument("--trial-pool", type=int, default=20000,
                    help="trial: cart_cd19_bcma patients in the pool (default 20000)")
    ap.add_argument("--trial-replicates", type=int, default=10000, help="trial: replicates (default 10000)")
    ap.add_argument("--hard-repeats", type=int, default=500,
                    help="hardiansyah2019: timed solves per cartpk case (default 500)")
    ap.add_argument("--hard-peer-repeats", type=int, default=20,
                    help="hardiansyah2019: timed solves of the SciPy peer (default 20)")
    ap.add_argument("--ms-repeats", type=int, default=500,
                    help="muellerschoell2021: timed solves per cartpk case (default 500)")
    ap.add_argument("--ms-peer-repeats", type=int, default=20,
                    help="muellerschoell2021: timed solves of the SciPy peer (default 20)")
    ap.add_argument("--singh-repeats", type=int, default=200,
                    help="singh2021_idecel: timed solves per cartpk case (default 200; 1/10 of them with all "
                         "25 sensitivities)")
    ap.add_argument("--singh-peer-repeats", type=int, default=20,
                    help="singh2021_idecel: timed solves of the SciPy peer (default 20)")
    ap.add_argument("--trial-repeats", type=int, default=5,
                    help="trial: timed cartpk trial runs, the best is reported (default 5)")
    ap.add_argument("--solver-repeats", type=int, default=200,
                    help="solver: timed cartpk solves per case and round (default 200)")
    ap.add_argument("--solver-peer-repeats", type=int, default=100,
                    help="solver: timed R lsoda solves per round (default 100)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per program run (default 3600)")
    args = ap.parse_args()
    if args.n_sets < 5:
        ap.error("--n-sets must be at least 5 (the first 5 sets are used for validation)")
    if args.m2_repeats < 1 or args.m2_peer_repeats < 1:
        ap.error("--m2-repeats and --m2-peer-repeats must be at least 1")
    if args.design_repeats < 1:
        ap.error("--design-repeats must be at least 1")
    if min(args.fit_patients, args.fit_repeats, args.fit_m2_patients, args.fit_m2_starts,
           args.fit_m2_peer_patients) < 1:
        ap.error("--fit-* options must be at least 1")
    if args.fit_m2_r_patients < 0 or args.fit_m2_r_repeats < 1:
        ap.error("--fit-m2-r-patients must be at least 0 and --fit-m2-r-repeats at least 1")

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
