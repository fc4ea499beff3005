#!/usr/bin/python3
"""Independent Python peers for the virtual-population benchmark (`make bench`, section vpop).

Each peer does what `cartpk vpop` does for a population, written the way a NumPy/SciPy user would, with no code
shared with cartpk (the bounds and variabilities are entered here from the model tables; bench/run_bench.py
checks them against `cartpk models`):

  stein2019       N patients of the stein2019 closed form (spec M1) through dose scenarios that scale the typical
                  cmax, vectorised over all patients and times at once (NumPy):
                  - sampling: body weight log-normal (median 70 kg, CV 20 %, redrawn outside 40-150 kg) and
                    eta ~ N(0, diag(omega^2)) with Stein 2019's omega^2 read as variances of the log parameters;
                    a patient with any parameter outside the model's bounds is redrawn whole (rejection);
                  - curves: qpcr at every output time, flow = qpcr / kcp;
                  - metrics: Cmax, Tmax (the peak at tmax, where the closed form is cmax, when tmax is within the
                    grid; else on the grid) and AUC0-28 (linear trapezoids) of qpcr and flow, qpcr persistence
                    (last time with qpcr >= LLOQ, crossing interpolated linearly);
                  - summaries: 5/25/50/75/95 % quantiles of both observables at every time and of every metric.
  cart_cd19_bcma  N patients of the cart_cd19_bcma model (spec M2; equations from tests/python/m2_reference.py)
                  through dose scenarios (cells/kg), one scipy.integrate.solve_ivp(method="LSODA") solve per
                  patient and scenario on the output grid, with variability from an IIV TOML file (CV, omega^2 or
                  SD per parameter, correlations), rejection to the model's bounds, the same metrics cartpk
                  computes (CAR-T exposure, persistence, B-cell aplasia and recovery, autoantibody and Hb at the
                  late day) and the same summaries (bands of all six observables, metric quantiles, the fraction
                  in aplasia by day). With --check-h5, also solves the first patients of a cartpk run at cartpk's
                  sampled parameters with a tight reference (LSODA rtol 1e-12) and reports the accuracy of cartpk's
                  kept trajectories and of this peer's settings against it (untimed).

The result is one JSON object on stdout: {"patients", "scenarios", "seconds", "patients_per_second", "summary":
{...medians for the driver's sanity checks...}, "meta": {...}}. Timings cover the computation only (not Python's
start-up, imports or reading inputs); the NumPy peer reports the best of --repeats runs.
"""
import argparse
import json
import math
import platform
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import scipy

LEVELS = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
WT_MEDIAN, WT_CV, WT_LOWER, WT_UPPER = 70.0, 0.20, 40.0, 150.0
MAX_DRAWS = 1000

# ---------------------------------------------------------------------------------------------------------------
# stein2019 (spec M1). Typical values, bounds and omega^2 as `cartpk models stein2019` lists them (Stein et al.,
# CPT Pharmacometrics Syst Pharmacol 2019;8:285-295, Table 1; omega^2 read as variances of the log parameter, as
# nlmixr2lib enters them). kcp has no variability.
STEIN = {  # name: (typical, lower, upper, omega^2)
    "foldx": (3900.0, 1.0, 1e7, 2.4),
    "tmax": (9.3, 0.5, 60.0, 0.38),
    "cmax": (24000.0, 1.0, 1e7, 0.65),
    "alpha": (0.16, 1e-3, 10.0, 0.91),
    "fb": (0.0079, 1e-6, 0.999, 0.8),
    "beta": (0.0032, 1e-6, 1.0, 0.86),
}
STEIN_KCP = 300.0  # (copies/µg)/(cells/µL), flow = qpcr / kcp
STEIN_LLOQ = 50.0  # copies/µg, qpcr persistence threshold (cartpk's default --qpcr-lloq)


def sample_weights(rng, n):
    """Log-normal body weight, redrawn outside [WT_LOWER, WT_UPPER] (then clamped after MAX_DRAWS tries)."""
    sd = math.sqrt(math.log1p(WT_CV ** 2))
    wt = WT_MEDIAN * np.exp(sd * rng.standard_normal(n))
    for _ in range(MAX_DRAWS):
        bad = (wt < WT_LOWER) | (wt > WT_UPPER)
        if not bad.any():
            break
        wt[bad] = WT_MEDIAN * np.exp(sd * rng.standard_normal(int(bad.sum())))
    return np.clip(wt, WT_LOWER, WT_UPPER)


def sample_lognormal(rng, n, typical, lower, upper, chol):
    """Parameters typical * exp(eta), eta = L z, with whole-patient rejection outside [lower, upper].
    Returns (parameters n x k, rejected draws per patient)."""
    k = typical.size
    params = typical * np.exp(rng.standard_normal((n, k)) @ chol.T)
    rejected = np.zeros(n, dtype=np.int64)
    bad = np.any((params < lower) | (params > upper), axis=1)
    while bad.any():
        idx = np.nonzero(bad)[0]
        rejected[idx] += 1
        params[idx] = typical * np.exp(rng.standard_normal((idx.size, k)) @ chol.T)
        still = np.any((params[idx] < lower) | (params[idx] > upper), axis=1)
        bad[:] = False
        bad[idx[still & (rejected[idx] < MAX_DRAWS)]] = True
    return params, rejected


def curve_metrics(t, y, auc_end, lloq=None):
    """Cmax, Tmax, AUC0-auc_end of every row of y (patients x times), and the last time with y >= lloq."""
    j = np.argmax(y, axis=1)
    cmax = y[np.arange(y.shape[0]), j]
    tmax = t[j]
    inside = t <= auc_end
    ti, yi = t[inside], y[:, inside]
    auc = np.sum((yi[:, 1:] + yi[:, :-1]) * (0.5 * np.diff(ti)), axis=1)
    if ti[-1] < auc_end:  # the window ends between two outputs: add the interpolated piece
        k = np.searchsorted(t, auc_end)
        w = (auc_end - t[k - 1]) / (t[k] - t[k - 1])
        y_end = y[:, k - 1] + w * (y[:, k] - y[:, k - 1])
        auc += 0.5 * (y[:, k - 1] + y_end) * (auc_end - t[k - 1])
    out = {"cmax": cmax, "tmax": tmax, "auc": auc}
    if lloq is not None:
        above = y >= lloq
        any_above = above.any(axis=1)
        last = y.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)
        nxt = np.minimum(last + 1, y.shape[1] - 1)
        rows = np.arange(y.shape[0])
        y0, y1 = y[rows, last], y[rows, nxt]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where((nxt > last) & (y1 < lloq), (y0 - lloq) / (y0 - y1), 0.0)
        persistence = t[last] + frac * (t[nxt] - t[last])
        out["persistence"] = np.where(any_above, persistence, np.nan)
    return out


def quantiles(values):
    """LEVELS quantiles over axis 0, ignoring NaN (metrics not reached)."""
    return np.nanquantile(values, LEVELS, axis=0, method="lower")


def stein2019(args):
    times = np.array([float(s) for s in args.times.split(",")])
    cmax_typicals = [float(s) for s in args.cmax.split(",")]
    names = list(STEIN)
    typical = np.array([STEIN[n][0] for n in names])
    lower = np.array([STEIN[n][1] for n in names])
    upper = np.array([STEIN[n][2] for n in names])
    chol = np.diag(np.sqrt([STEIN[n][3] for n in names]))
    jc = names.index("cmax")

    def run():
        rng = np.random.default_rng(args.seed)
        wt = sample_weights(rng, args.n)  # sampled as cartpk does, although stein2019 does not use it
        p, rejected = sample_lognormal(rng, args.n, typical, lower, upper, chol)
        t = times[None, :]
        results = []
        for c in cmax_typicals:
            # a scenario sets the typical value; each patient keeps their eta (the same patients in every
            # scenario). The curve is evaluated in full per scenario, as for any parameter a scenario might
            # change (not exploiting that qpcr happens to be linear in cmax).
            q = p.copy()
            q[:, jc] *= c / typical[jc]
            foldx, tmax, cmax, alpha, fb, beta = (q[:, k][:, None] for k in range(6))
            rho = np.log(foldx) / tmax
            growth = cmax / foldx * np.exp(rho * np.minimum(t, tmax))  # clamped: no overflow past the peak
            dt = np.maximum(t - tmax, 0.0)
            decline = (1.0 - fb) * cmax * np.exp(-alpha * dt) + fb * cmax * np.exp(-beta * dt)
            qpcr = np.where(t < tmax, growth, decline)
            flow = qpcr / STEIN_KCP
            mq = curve_metrics(times, qpcr, 28.0, STEIN_LLOQ)
            mf = curve_metrics(times, flow, 28.0)
            # The peak is at tmax (the closed form's value there is cmax), as cartpk reports it: exactly, not on
            # the output grid, when tmax lies within the grid.
            at_peak = ((tmax >= times[0]) & (tmax <= times[-1]))[:, 0]
            for m, peak in ((mq, cmax[:, 0]), (mf, cmax[:, 0] / STEIN_KCP)):
                higher = at_peak & (peak > m["cmax"])
                m["cmax"] = np.where(higher, peak, m["cmax"])
                m["tmax"] = np.where(higher, tmax[:, 0], m["tmax"])
            metrics = np.column_stack([mf["cmax"], mf["tmax"], mf["auc"], mq["cmax"], mq["tmax"], mq["auc"],
                                       mq["persistence"]])
            results.append({"bands": {"qpcr": quantiles(qpcr), "flow": quantiles(flow)},
                            "metric_quantiles": quantiles(metrics)})
        return wt, rejected, results

    best, out = math.inf, None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    wt, rejected, results = out
    metric_names = ["flow_cmax", "flow_tmax", "flow_auc_0_28", "qpcr_cmax", "qpcr_tmax", "qpcr_auc_0_28",
                    "qpcr_persistence"]
    return {
        "patients": args.n, "scenarios": len(cmax_typicals), "seconds": best,
        "patients_per_second": args.n / best,
        "summary": {
            "rejected_draws": int(rejected.sum()),
            "median_weight": float(np.median(wt)),
            "qpcr_median_band": [r["bands"]["qpcr"][2].tolist() for r in results],
            "metric_medians": [dict(zip(metric_names, r["metric_quantiles"][2].tolist())) for r in results],
        },
        "meta": {"model": "stein2019", "times": times.tolist(), "cmax_typicals": cmax_typicals,
                 "repeats": args.repeats, "seed": args.seed, "levels": LEVELS.tolist(),
                 "parameters": {n: dict(zip(("typical", "lower", "upper", "omega2"), v)) for n, v in STEIN.items()}},
    }


# ---------------------------------------------------------------------------------------------------------------
# cart_cd19_bcma (spec M2). Bounds of the parameters that can carry variability, as `cartpk models
# cart_cd19_bcma` lists them (the others stay at their defaults, inside their bounds).
M2_BOUNDS = {
    "dose_per_kg": (1e3, 1e9), "vblood": (5e4, 9e4), "fblood": (1e-4, 0.5), "rho": (0.05, 5.0), "rhoh": (0.0, 3.0),
    "kld": (0.01, 2.0), "ks": (1e-3, 10.0), "ndiv": (1.0, 50.0), "kem": (1e-4, 1.0), "kme": (0.0, 1.0),
    "kex": (0.0, 1.0), "dele": (0.01, 2.0), "delm": (1e-4, 0.5), "delx": (0.01, 3.0), "phim": (0.0, 5.0),
    "ec50": (1e-3, 100.0), "kmax19": (0.0, 10.0), "kmaxbc": (0.0, 10.0), "b0": (10.0, 1000.0),
    "fld_b": (1e-3, 1.0), "kbm": (1e-3, 1.0), "kbin": (1e-3, 1.0), "kbout": (1e-3, 1.0), "kr": (0.0, 0.1),
    "kps": (0.01, 2.0), "kpl": (1e-4, 0.1), "fpl": (1e-3, 0.999), "ka": (5e-3, 0.5), "hb0": (40.0, 160.0),
    "krbc": (1e-3, 0.05), "khem": (0.0, 0.5), "gam": (0.0, 5.0), "kcp": (1.0, 1e5),
}
# Typical magnitude of each state (m2.STATES order); absolute tolerance = --atol-scale x these.
M2_STATE_SCALES = np.array([10.0, 10.0, 10.0, 1.0, 1.0, 150.0, 1.0, 1.0, 1.0, 1.0, 80.0])
M2_REF_RTOL, M2_REF_ATOL_SCALE = 1e-12, 1e-16
# Below these the accuracy check compares absolute differences (flow falls to ~1e-14 cells/µL by day 730).
M2_CHECK_FLOOR = {"flow": 1e-6, "bcell": 1e-6, "plasma": 1e-6, "autoab": 1e-6, "hb": 1e-6}


def read_iiv(path):
    """(names, typical overrides, omega) from an IIV TOML file (docs/vpop.md)."""
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    names, variances = [], []
    for name, spec in doc.get("iiv", {}).items():
        if "omega2" in spec:
            v = float(spec["omega2"])
        elif "cv" in spec:
            v = math.log1p((float(spec["cv"]) / 100.0) ** 2)
        else:
            v = float(spec["sd"]) ** 2
        names.append(name)
        variances.append(v)
    omega = np.diag(variances)
    for c in doc.get("correlation", []):
        a, b = names.index(c["a"]), names.index(c["b"])
        omega[a, b] = omega[b, a] = float(c["r"]) * math.sqrt(variances[a] * variances[b])
    return names, doc.get("typical", {}), omega


def m2_metrics(t, obs, p, late_day=90.0, auc_end=28.0, aplasia=1.0, recovery=0.5, lloq=50.0):
    """cartpk's metric columns for one patient from the observables on the output grid (crossings linear)."""
    out = {}
    for name in ("flow", "qpcr"):
        m = curve_metrics(t, obs[name][None, :], auc_end, lloq if name == "qpcr" else None)
        out.update({f"{name}_{k}": float(v[0]) for k, v in m.items()})
    b = obs["bcell"]

    def crossing(k, level):  # time where b crosses `level` between outputs k-1 and k
        return t[k - 1] + (level - b[k - 1]) / (b[k] - b[k - 1]) * (t[k] - t[k - 1])

    below = np.nonzero(b < aplasia)[0]
    start = duration = recovered = math.nan
    if below.size:
        k = int(below[0])
        start = float(t[k]) if k == 0 else float(crossing(k, aplasia))
        after = np.nonzero(b[k:] >= aplasia)[0]
        if after.size:
            duration = float(crossing(k + int(after[0]), aplasia)) - start
        back = np.nonzero(b[k:] >= recovery * p["b0"])[0]
        if back.size:
            recovered = float(crossing(k + int(back[0]), recovery * p["b0"]))
    out.update({"bcell_aplasia_start": start, "bcell_aplasia_duration": duration, "bcell_recovery_50pct": recovered})
    out["autoab_late"] = float(np.interp(late_day, t, obs["autoab"]))
    out["hb_change_late"] = float(np.interp(late_day, t, obs["hb"]) - obs["hb"][0])
    return out


def rel_err(values, reference):
    return max(float(np.max(np.abs(values[k] - reference[k]) / np.maximum(np.abs(reference[k]), floor)))
               for k, floor in M2_CHECK_FLOOR.items())


def cart_cd19_bcma(args):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
    import m2_reference as m2  # noqa: E402  (the spec-only SciPy implementation)

    times = np.arange(0.0, args.end + 0.5 * args.step, args.step)
    doses = [float(s) for s in args.doses.split(",")]
    names, typical_overrides, omega = read_iiv(args.iiv)
    base = m2.params(**typical_overrides)
    typical = np.array([base[n] for n in names])
    lower = np.array([M2_BOUNDS[n][0] for n in names])
    upper = np.array([M2_BOUNDS[n][1] for n in names])
    chol = np.linalg.cholesky(omega)
    atol = args.atol_scale * M2_STATE_SCALES

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    sample_weights(rng, args.n)  # as cartpk (dose in cells = dose/kg x WT; concentrations do not depend on it)
    sampled, rejected = sample_lognormal(rng, args.n, typical, lower, upper, chol)
    per_scenario = []
    for dose in doses:
        curves = {o: np.empty((args.n, times.size)) for o in m2.OBSERVABLES}
        metrics = []
        for i in range(args.n):
            p = dict(base, dose_per_kg=dose, **dict(zip(names, sampled[i])))
            obs = m2.observables(m2.solve(times, p, rtol=args.rtol, atol=atol, method="LSODA"), p)
            for o in m2.OBSERVABLES:
                curves[o][i] = obs[o]
            metrics.append(m2_metrics(times, obs, p))
        columns = list(metrics[0])
        table = np.array([[m[c] for c in columns] for m in metrics])
        per_scenario.append({
            "bands": {o: quantiles(v) for o, v in curves.items()},
            "metric_quantiles": dict(zip(columns, quantiles(table).T.tolist())),
            "in_aplasia": np.mean(curves["bcell"] < 1.0, axis=0),
        })
    seconds = time.perf_counter() - t0

    result = {
        "patients": args.n, "scenarios": len(doses), "seconds": seconds, "patients_per_second": args.n / seconds,
        "summary": {"rejected_draws": int(rejected.sum()),
                    "metric_medians": [{k: v[2] for k, v in s["metric_quantiles"].items()} for s in per_scenario]},
        "meta": {"model": "cart_cd19_bcma", "times": {"first": 0.0, "last": float(times[-1]), "n": int(times.size)},
                 "doses": doses, "iiv": str(args.iiv), "random_effects": names, "seed": args.seed,
                 "lsoda": {"rtol": args.rtol, "atol_scale": args.atol_scale, "atol": atol.tolist()},
                 "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__},
    }
    if args.check_h5:
        result["check"] = check_against_reference(args, m2, times, doses, atol)
    return result


def check_against_reference(args, m2, times, doses, atol):
    """Accuracy of cartpk's kept trajectories and of this peer's LSODA settings, both against a tight LSODA
    reference, at cartpk's own sampled parameters (first --check-patients patients, every scenario)."""
    import h5py

    def text(x):
        return x.decode() if isinstance(x, bytes) else str(x)

    with h5py.File(args.check_h5, "r") as f:
        columns = [text(c) for c in f["/vpop/patients/parameters"].attrs["columns"]]
        t = f["/vpop/time"][:]
        scenario_names = [text(s) for s in f["/vpop"].attrs["scenarios"]]
        n = min(args.check_patients, f[f"/vpop/scenarios/{scenario_names[0]}/trajectories/flow"].shape[0])
        P = f["/vpop/patients/parameters"][:n]
        kept = {s: {o: f[f"/vpop/scenarios/{s}/trajectories/{o}"][:n] for o in M2_CHECK_FLOOR} for s in scenario_names}
    if not np.allclose(t, times):
        raise SystemExit("--check-h5: its output grid differs from --end/--step")
    if len(scenario_names) != len(doses):
        raise SystemExit("--check-h5: its scenarios differ from --doses")
    cartpk_err, peer_err = [], []
    for s, dose in zip(scenario_names, doses):
        for i in range(n):
            p = dict(m2.params(), **dict(zip(columns, P[i])))
            p["dose_per_kg"] = dose
            ref = m2.observables(m2.solve(t, p, rtol=M2_REF_RTOL, atol=M2_REF_ATOL_SCALE * M2_STATE_SCALES), p)
            mine = m2.observables(m2.solve(t, p, rtol=args.rtol, atol=atol), p)
            cartpk_err.append(rel_err({o: kept[s][o][i] for o in M2_CHECK_FLOOR}, ref))
            peer_err.append(rel_err(mine, ref))
    return {"patients": n, "solves": len(cartpk_err), "cartpk_max_rel_err": max(cartpk_err),
            "peer_max_rel_err": max(peer_err),
            "reference": {"method": "LSODA", "rtol": M2_REF_RTOL, "atol_scale": M2_REF_ATOL_SCALE},
            "floor": M2_CHECK_FLOOR}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="model", required=True)
    s = sub.add_parser("stein2019", help="NumPy-vectorised closed form")
    s.add_argument("--n", type=int, required=True, help="patients")
    s.add_argument("--times", required=True, help="output times, days, comma-separated")
    s.add_argument("--cmax", default="24000,12000,48000", help="typical cmax of each scenario (copies/µg)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--repeats", type=int, default=1, help="timed runs; the best is reported")
    m = sub.add_parser("cart_cd19_bcma", help="SciPy LSODA per patient and scenario")
    m.add_argument("--n", type=int, required=True, help="patients")
    m.add_argument("--iiv", required=True, help="IIV TOML file (docs/vpop.md)")
    m.add_argument("--doses", default="0.5e6,1e6,2e6", help="one scenario per dose, cells/kg")
    m.add_argument("--end", type=float, default=730.0)
    m.add_argument("--step", type=float, default=1.0)
    m.add_argument("--rtol", type=float, default=1e-8)
    m.add_argument("--atol-scale", type=float, default=1e-13,
                   help="absolute tolerance per unit of each state's typical scale (default 1e-13)")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--check-h5", default=None, help="a cartpk vpop output with kept trajectories to check")
    m.add_argument("--check-patients", type=int, default=4)
    args = ap.parse_args()
    if args.n < 1:
        ap.error("--n must be at least 1")
    result = stein2019(args) if args.model == "stein2019" else cart_cd19_bcma(args)
    result.setdefault("meta", {}).update({"python": platform.python_version(), "numpy": np.__version__})
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
