"""The `solver` benchmark of bench/run_bench.py (issue 12): cartpk's ODE integrators against compiled LSODA.

The peer is what a performance-minded pharmacometrician runs: R deSolve's `lsoda` on the model's right-hand side
compiled to C (bench/peer_lsoda/models.c, built with `R CMD SHLIB` before any timing; bench/peer_lsoda/peer_lsoda.R
drives it), with sensitivities by forward finite differences (1 + n solves). R and deSolve are installed with
apt-get when missing (`r-base-core r-base-dev r-cran-desolve`; needs root). cartpk's side is bench/bench_solver.cpp.

Per model (cart_cd19_bcma at its defaults after a dose of 1e6 cells/kg at day 0; stein2019 at its defaults;
lag_expansion with tlag = 3 days), 30 output times over two years:
  1. a reference: CVODES at rtol 1e-12, with sensitivities;
  2. accuracy sweeps over rtol (1e-4 .. 3e-11) of cartpk's integrators (cvodes, dopri5) and of the peer; accuracy =
     the largest relative error of the observables against the reference, over values above 1e-3 of each
     observable's peak; sensitivity accuracy = the largest error relative to each sensitivity's peak;
  3. two accuracy levels: the error of cartpk's CVODES at rtol 1e-6 and at 1e-8 (the issue's table). At each level,
     each side runs at the loosest rtol of the sweep whose error is at least as small (for cartpk with
     sensitivities, also sensitivity error <= 1e-6; the peer's finite differences are far less accurate, shown);
  4. timing at those tolerances: seconds per solve (best of 3 rounds), plain and with sensitivities.
Ratio = peer time / cartpk time (> 1: cartpk faster). Targets (issue 12): plain >= 1.0 (aim 1.5), with
sensitivities >= 1.2.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TIMES = np.linspace(0.0, 730.0, 30)
RTOLS = (1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 3e-9, 1e-9, 3e-10, 1e-10, 3e-11)
LEVEL_RTOLS = (1e-6, 1e-8)  # accuracy levels: the error of cartpk's CVODES at these rtol
SENS_TOL = 1e-6             # cartpk's sensitivities, relative to each sensitivity's peak
INTEGRATORS = ("cvodes", "dopri5")
TARGET_PLAIN, TARGET_SENS = 1.0, 1.2
# (model, parameter settings, observables compared; cart_cd19_bcma: the four of the table)
MODELS = (("cart_cd19_bcma", {}, ("flow", "qpcr", "bcell", "hb")),
          ("stein2019", {}, ("qpcr", "flow")),
          ("lag_expansion", {"tlag": 3.0}, ("qpcr", "flow")))
APT_PACKAGES = ("r-base-core", "r-base-dev", "r-cran-desolve")


def ensure_r(BenchError):
    """Rscript with deSolve, installed with apt-get when missing."""
    def have():
        return shutil.which("Rscript") and subprocess.run(
            ["Rscript", "-e", "suppressPackageStartupMessages(library(deSolve))"],
            capture_output=True).returncode == 0
    if have():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("R with deSolve is missing; install it: sudo apt-get install -y " + " ".join(APT_PACKAGES))
    print("solver: installing " + " ".join(APT_PACKAGES) + " ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(["apt-get", "install", "-y", *APT_PACKAGES], capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not have():
        raise BenchError("apt-get install " + " ".join(APT_PACKAGES) + " failed:\n" + proc.stderr[-2000:])


def build_peer(out, BenchError):
    """bench/peer_lsoda/models.c compiled with R CMD SHLIB into out/solver_peer (outside every timing)."""
    work = out / "solver_peer"
    work.mkdir(parents=True, exist_ok=True)
    source = work / "cartpk_peer_models.c"
    shutil.copyfile(HERE / "peer_lsoda" / "models.c", source)
    proc = subprocess.run(["R", "CMD", "SHLIB", "-o", "cartpk_peer_models.so", source.name], cwd=work,
                          capture_output=True, text=True)
    dll = work / "cartpk_peer_models.so"
    if proc.returncode != 0 or not dll.is_file():
        raise BenchError("R CMD SHLIB failed:\n" + proc.stdout[-1000:] + proc.stderr[-2000:])
    return dll


def obs_error(values, reference, names):
    """Largest relative error over values above 1e-3 of each observable's peak."""
    worst = 0.0
    for name in names:
        r, v = np.asarray(reference[name], float), np.asarray(values[name], float)
        keep = np.abs(r) > 1e-3 * np.abs(r).max()
        worst = max(worst, float((np.abs(v - r)[keep] / np.abs(r)[keep]).max()))
    return worst


def sens_error(values, reference, names):
    """Largest error of each sensitivity relative to its own peak."""
    worst = 0.0
    for name in names:
        for v, r in zip(values[name], reference[name]):
            r, v = np.asarray(r, float), np.asarray(v, float)
            peak = np.abs(r).max()
            if peak > 0:
                worst = max(worst, float(np.abs(v - r).max() / peak))
    return worst


def loosest(levels, ok):
    """The loosest rtol of the sweep (largest) whose level satisfies ok; None when none does."""
    good = [l for l in levels if ok(l)]
    return max(good, key=lambda l: l["rtol"]) if good else None


def run(ctx, BenchError, run_json, print_table):
    a = ctx.args
    exe = ctx.build / "bench" / "bench_solver"
    if not exe.is_file():
        raise BenchError(f"{exe} not found (build it first)")
    ensure_r(BenchError)
    dll = build_peer(ctx.out, BenchError)
    times = ",".join(f"{t:.17g}" for t in TIMES)
    results, ok = {}, True
    summary_rows = []
    for model, settings, names in MODELS:
        set_arg = ",".join(f"{k}={v:g}" for k, v in settings.items())
        base = [exe, "--model", model, "--times", times] + (["--set", set_arg] if set_arg else [])
        print(f"solver: {model}: reference and accuracy sweeps ...", flush=True)
        ref = run_json(base + ["--levels", "cvodes:1e-12"], a.timeout)
        levels = ",".join(f"{i}:{r:g}" for i in INTEGRATORS for r in RTOLS)
        sweep = run_json(base + ["--levels", levels], a.timeout)["levels"]
        r0 = ref["levels"][0]
        for l in sweep:
            l["error_plain"] = obs_error(l["plain_observables"], r0["plain_observables"], names)
            l["error_sens_run"] = obs_error(l["observables"], r0["observables"], names)
            l["error_sens"] = sens_error(l["sensitivities"], r0["sensitivities"], names)
        params = ",".join(f"{p:.17g}" for p in ref["parameters"])
        atol = ",".join(f"{x:.17g}" for x in ref["atol"])
        fd = ",".join(str(ref["parameter_names"].index(s)) for s in ref["sensitivity_parameters"])
        peer_base = ["Rscript", HERE / "peer_lsoda" / "peer_lsoda.R", f"dll={dll}", f"model={model}",
                     f"params={params}", f"times={times}", f"atol={atol}", f"fd={fd}"]
        peer_sweep = run_json(peer_base + ["mode=values", "rtols=" + ",".join(f"{r:g}" for r in RTOLS)],
                              a.timeout)["levels"]
        for l in peer_sweep:
            l["error_plain"] = obs_error(l["observables"], r0["plain_observables"], names)
            l["error_sens"] = sens_error(l["fd_sensitivities"], r0["sensitivities"], names)

        model_result = {"settings": settings, "observables": names, "sensitivity_parameters":
                        ref["sensitivity_parameters"], "levels": {}}
        for level_rtol in LEVEL_RTOLS:
            target = next(l for l in sweep if l["integrator"] == "cvodes" and l["rtol"] == level_rtol)["error_plain"]
            pick = {}
            for integ in INTEGRATORS:
                mine = [l for l in sweep if l["integrator"] == integ]
                pick[(integ, "plain")] = loosest(mine, lambda l: l["error_plain"] <= target)
                pick[(integ, "sens")] = loosest(mine, lambda l: l["error_sens_run"] <= target
                                                and l["error_sens"] <= SENS_TOL)
            pick[("lsoda", "plain")] = loosest(peer_sweep, lambda l: l["error_plain"] <= target)
            if any(v is None for v in pick.values()):
                missing = [f"{k[0]} {k[1]}" for k, v in pick.items() if v is None]
                print(f"  {model}: no tolerance of the sweep reaches {target:.1e} for: {', '.join(missing)}")
                ok = False
                continue
            cart_levels = sorted({(k[0], v["rtol"]) for k, v in pick.items() if k[0] != "lsoda"})
            timed = run_json(base + ["--mode", "time", "--repeats", a.solver_repeats, "--levels",
                                     ",".join(f"{i}:{r:g}" for i, r in cart_levels)], a.timeout)["levels"]
            timing = {(t["integrator"], t["rtol"]): t for t in timed}
            peer_rtol = pick[("lsoda", "plain")]["rtol"]
            peer_time = run_json(peer_base + ["mode=time", f"rtols={peer_rtol:g}", f"repeats={a.solver_peer_repeats}"],
                                 a.timeout)["levels"][0]
            rows, entry = [], {"target_error": target, "lsoda": {
                "rtol": peer_rtol, "error": pick[("lsoda", "plain")]["error_plain"],
                "fd_sens_error": pick[("lsoda", "plain")]["error_sens"],
                "seconds_per_solve": peer_time["seconds_per_solve"],
                "seconds_per_fd_sensitivities": peer_time["seconds_per_fd_sensitivities"]}}
            for integ in INTEGRATORS:
                lp, ls = pick[(integ, "plain")], pick[(integ, "sens")]
                tp = timing[(integ, float(f"{lp['rtol']:.6g}"))]["plain"]
                ts = timing[(integ, float(f"{ls['rtol']:.6g}"))]["sens"]
                rp = peer_time["seconds_per_solve"] / tp["seconds_per_solve"]
                rs = peer_time["seconds_per_fd_sensitivities"] / ts["seconds_per_solve"]
                entry[integ] = {"plain": {"rtol": lp["rtol"], "error": lp["error_plain"], **tp, "ratio": rp},
                                "sens": {"rtol": ls["rtol"], "error": ls["error_sens_run"],
                                         "sens_error": ls["error_sens"], **ts, "ratio": rs}}
                rows.append([integ, f"{lp['rtol']:g}", f"{lp['error_plain']:.1e}",
                             f"{1e3 * tp['seconds_per_solve']:.3f}", tp["steps"], tp["used"], f"{rp:.2f}x",
                             f"{ls['rtol']:g}", f"{ls['error_sens']:.1e}", f"{1e3 * ts['seconds_per_solve']:.3f}",
                             f"{rs:.2f}x"])
                summary_rows.append([f"{model} @ {target:.0e}", integ, f"{rp:.2f}x", f"{rs:.2f}x"])
            pl = pick[("lsoda", "plain")]
            rows.append(["lsoda (R, C rhs)", f"{peer_rtol:g}", f"{pl['error_plain']:.1e}",
                         f"{1e3 * peer_time['seconds_per_solve']:.3f}", pl["steps"], "lsoda", "",
                         f"{peer_rtol:g}", f"{pl['error_sens']:.1e}",
                         f"{1e3 * peer_time['seconds_per_fd_sensitivities']:.3f}", "FD"])
            print()
            print_table(f"solver: {model}{' ' + set_arg if set_arg else ''}, 2 years, 30 outputs; accuracy level "
                        f"{target:.1e} (cartpk CVODES at rtol {level_rtol:g}); {len(ref['sensitivity_parameters'])} "
                        "sensitivities (peer: forward differences); ratio = peer time / cartpk time",
                        ["integrator", "rtol", "error", "ms/solve", "steps", "ran", "ratio", "rtol+s", "sens err",
                         "ms+sens", "ratio+s"], rows)
            model_result["levels"][f"{level_rtol:g}"] = entry
        results[model] = model_result
    print()
    print_table(f"solver: summary (targets: plain >= {TARGET_PLAIN:g}x, with sensitivities >= {TARGET_SENS:g}x)",
                ["model @ accuracy", "integrator", "plain", "with sens"], summary_rows)
    print()
    return {"ok": ok, "inputs": {"times": "30 outputs, 0..730 days", "rtols": RTOLS, "level_rtols": LEVEL_RTOLS,
                                 "sens_tol": SENS_TOL, "cartpk_repeats": a.solver_repeats,
                                 "peer_repeats": a.solver_peer_repeats}, "models": results}

