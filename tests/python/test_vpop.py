#!/usr/bin/python3
"""`cartpk vpop` end to end, against references computed here from the file's own sampled parameters.

Usage: test_vpop.py <path to cartpk>

- Bands: stein2019 (closed form), 3,000 patients: each band value equals NumPy's quantile (method 'lower') of the
  closed-form curves written out below from the spec (not from cartpk), evaluated at the patients' sampled
  parameters read back from the HDF5, within the stated relative accuracy (band_accuracy).
- Scenarios: an empty scenario equals the base exactly; stein2019's curve scales with cmax alone, so a scenario
  with cmax doubled doubles every patient's qPCR Cmax and AUC and keeps Tmax; in cart_cd19_bcma a higher dose
  gives every patient the same sampled parameters and a median flow Cmax that rises with dose.
- Determinism: --threads 1 and --threads 2 write identical numbers (every dataset) for both models, and so does
  `mpirun -np 2` (vpop, and fit over a cohort) when cartpk is built with MPI (skipped with a message otherwise),
  and `mpirun -np 3` with two threads per rank (more ranks than cores) for stein2019.
- Failure isolation: with --max-steps 800 on CVODES (--integrator cvodes: the default dopri5 hands such solves
  over and completes them), the fast-proliferation scenario fails for some patients (status 1, NaN
  metrics), the rest and the other scenario complete, exit status 3.
- Interruption: SIGINT writes a valid file marked partial (progress complete = 0) holding whole patients, exit 130;
  SIGKILL leaves OUT untouched and OUT.partial readable with a consistent prefix of patients.
- Bad input: exit 2, a message naming the file/line/key or option/value, nothing written.
Prints "N passed, M failed".
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402

EXAMPLES = os.path.join(cli_checks.SOURCE_ROOT, "examples")
check = cli_checks.Checks()


def run(exe, args, **kw):
    return subprocess.run([exe, "vpop", "--quiet"] + args, capture_output=True, text=True, timeout=600, **kw)


def stein_closed_form(t, p):
    """Spec M1: C = R0·exp(rho·t) before tmax, biexponential after (p: foldx, tmax, cmax, alpha, fb, beta)."""
    foldx, tmax, cmax, alpha, fb, beta = (p[:, k][:, None] for k in range(6))
    t = t[None, :]
    rho = np.log(foldx) / tmax
    grow = cmax / foldx * np.exp(rho * np.minimum(t, tmax))
    decay = (1 - fb) * cmax * np.exp(-alpha * (t - tmax)) + fb * cmax * np.exp(-beta * (t - tmax))
    return np.where(t < tmax, grow, decay)


def datasets(path, skip=("run_seconds", "progress")):  # both depend on timing, not on the results
    return cli_checks.h5_numbers(path, skip)


identical = cli_checks.identical_numbers


def bands(exe, tmp):
    print("bands of stein2019 against NumPy quantiles of the closed form at the sampled parameters")
    out = os.path.join(tmp, "bands.h5")
    times = "0,1,3,7,9.3,12,20,28,60,90,180,365,730"
    r = run(exe, ["--model", "stein2019", "--n", "3000", "--seed", "17", "--times", times, "--out", out])
    check(r.returncode == 0, f"vpop ran (exit {r.returncode}) {r.stderr.strip()[-300:]}")
    with h5py.File(out, "r") as f:
        t = f["/vpop/time"][:]
        levels = f["/vpop/quantile_levels"][:]
        alpha = f["/vpop"].attrs["band_accuracy"]
        p = f["/vpop/patients/parameters"][:]
        band = f["/vpop/scenarios/base/bands/qpcr"][:]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["/vpop/population/parameter_names"][:]]
        progress = f["/vpop/progress"][:]
    check(names[:6] == ["foldx", "tmax", "cmax", "alpha", "fb", "beta"], f"parameter order {names}")
    check(p.shape == (3000, 7) and progress[-1, 0] == 3000 and progress[-1, 1] == 1, "3,000 patients, complete")
    curves = stein_closed_form(t, p)
    worst = 0.0
    for i, q in enumerate(levels):
        exact = np.quantile(curves, q, axis=0, method="lower")
        rel = np.abs(band[i] - exact) / np.abs(exact)
        worst = max(worst, float(rel.max()))
    check(worst <= alpha * (1 + 1e-9), f"every band within its accuracy {alpha:g} of NumPy's quantile (worst {worst:.2e})")


def scenarios(exe, tmp):
    print("scenarios: no change equals the base; stein2019 scales with cmax; cart_cd19_bcma dose ordering")
    sc = os.path.join(tmp, "sc.toml")
    with open(sc, "w") as f:
        f.write("[scenario.base]\n\n[scenario.same]\n\n[scenario.double]\nparameters = { cmax = 48000 }\n")
    out, table = os.path.join(tmp, "sc.h5"), os.path.join(tmp, "sc.csv")
    r = run(exe, ["--model", "stein2019", "--n", "500", "--scenarios", sc, "--end", "365", "--step", "1", "--out", out,
                  "--table", table])
    check(r.returncode == 0, f"vpop ran (exit {r.returncode}) {r.stderr.strip()[-300:]}")
    d = datasets(out)
    same = all(np.array_equal(d[k], d[k.replace("/base/", "/same/")], equal_nan=True)
               for k in d if "/scenarios/base/" in k)
    check(same, "the empty scenario equals the base in every dataset, bit for bit")
    with h5py.File(out, "r") as f:
        cols = [c.decode() if isinstance(c, bytes) else c for c in f["/vpop/scenarios/base/metrics"].attrs["columns"]]
        base = f["/vpop/scenarios/base/metrics"][:]
        double = f["/vpop/scenarios/double/metrics"][:]
    import csv
    rows = list(csv.DictReader(open(table)))
    with h5py.File(out, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["/vpop/population/parameter_names"][:]]
        base_cmax = f["/vpop/patients/parameters"][:, names.index("cmax")]
    table_cmax = {(r["scenario"], int(r["ID"])): float(r["cmax"]) for r in rows}
    check(all(table_cmax[("base", k + 1)] == base_cmax[k] and table_cmax[("double", k + 1)] == 2.0 * base_cmax[k]
              for k in range(len(base_cmax))),
          "the table's parameters are each scenario's (cmax doubled in 'double'), the HDF5's the base ones")
    for name, factor in (("qpcr_cmax", 2.0), ("qpcr_auc_0_28", 2.0), ("qpcr_tmax", 1.0), ("flow_cmax", 2.0)):
        j = cols.index(name)
        rel = np.max(np.abs(double[:, j] / base[:, j] - factor))
        check(rel < 1e-12, f"{name} x{factor:g} in every patient when cmax doubles (worst deviation {rel:.1e})")

    out = os.path.join(tmp, "m2dose.h5")
    iiv = os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml")
    r = run(exe, ["--model", "cart_cd19_bcma", "--iiv", iiv, "--n", "40", "--dose-per-kg", "0.5e6,1e6,2e6",
                  "--end", "365", "--step", "1", "--out", out])
    check(r.returncode == 0, f"M2 vpop ran (exit {r.returncode}) {r.stderr.strip()[-300:]}")
    with h5py.File(out, "r") as f:
        names = [s.decode() if isinstance(s, bytes) else s for s in f["/vpop"].attrs["scenarios"]]
        check(names == ["dose_500000", "dose_1000000", "dose_2000000"], f"scenarios named by dose in order: {names}")
        cols = [c.decode() if isinstance(c, bytes) else c for c in f[f"/vpop/scenarios/{names[0]}/metrics"].attrs["columns"]]
        j = cols.index("flow_cmax")
        per_patient = [f[f"/vpop/scenarios/{s}/metrics"][:, j] for s in names]
        med = [float(np.median(x)) for x in per_patient]
    check(med[0] < med[1] < med[2], f"median flow Cmax rises with dose: {med}")
    check(bool(np.all(per_patient[0] < per_patient[1]) and np.all(per_patient[1] < per_patient[2])),
          "every patient's flow Cmax rises with dose (same sampled patient in every scenario)")


def determinism(exe, tmp):
    print("determinism: --threads 1 and 2 write the same numbers")
    iiv = os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml")
    for model, extra in (("stein2019", ["--n", "2000", "--end", "365", "--step", "1"]),
                         ("cart_cd19_bcma", ["--iiv", iiv, "--n", "24", "--dose-per-kg", "0.5e6,2e6", "--keep-trajectories", "3"])):
        files = []
        for threads in ("1", "2"):
            out = os.path.join(tmp, f"det_{model}_{threads}.h5")
            r = run(exe, ["--model", model, "--threads", threads, "--out", out] + extra)
            check(r.returncode == 0, f"{model} --threads {threads} ran (exit {r.returncode})")
            files.append(datasets(out))
        ok, detail = identical(*files)
        check(ok, f"{model}: identical numbers for 1 and 2 threads ({detail})")


def mpi_determinism(exe, tmp):
    print("MPI: mpirun -np 2 (and -np 3) writes the same numbers as one process (vpop and fit)")
    launcher, why = cli_checks.mpi_launcher(exe)
    if launcher is None:
        print(f"  skipped: {why}")
        return
    iiv = os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml")
    for model, extra in (("stein2019", ["--n", "2000", "--end", "365", "--step", "1"]),
                         ("cart_cd19_bcma", ["--iiv", iiv, "--n", "40", "--dose-per-kg", "0.5e6,2e6", "--keep-trajectories", "3"])):
        single, ranks = os.path.join(tmp, f"mpi1_{model}.h5"), os.path.join(tmp, f"mpi2_{model}.h5")
        r1 = run(exe, ["--model", model, "--threads", "2", "--out", single] + extra)
        r2 = subprocess.run(launcher + [exe, "vpop", "--quiet", "--model", model, "--threads", "1", "--out", ranks] + extra,
                            capture_output=True, text=True, timeout=600)
        check(r1.returncode == 0 and r2.returncode == 0, f"{model}: one process and 2 ranks ran (exit {r1.returncode}, {r2.returncode})")
        if r2.returncode != 0:
            print(r2.stderr[-2000:])
            continue
        ok, detail = identical(datasets(single), datasets(ranks))
        check(ok, f"{model}: mpirun -np 2 identical to one process ({detail})")
    # More ranks than cores, two threads each: rank 0 deals ranges to two others whose threads claim from them.
    three = os.path.join(tmp, "mpi3_stein2019.h5")
    extra = ["--n", "2000", "--end", "365", "--step", "1"]
    r3 = subprocess.run(launcher[:-1] + ["3", exe, "vpop", "--quiet", "--model", "stein2019", "--threads", "2",
                                         "--out", three] + extra, capture_output=True, text=True, timeout=600)
    check(r3.returncode == 0, f"stein2019: 3 ranks x 2 threads ran (exit {r3.returncode}) {r3.stderr[-300:]}")
    if r3.returncode == 0:
        ok, detail = identical(datasets(os.path.join(tmp, "mpi1_stein2019.h5")), datasets(three))
        check(ok, f"stein2019: mpirun -np 3 --threads 2 identical to one process ({detail})")
    # cartpk fit over a cohort uses the same split: subjects over ranks, rank 0 writes.
    config = os.path.join(EXAMPLES, "stein2019_fit.toml")
    outs = []
    for tag, prefix, threads in (("one", [], "2"), ("ranks", launcher, "1")):
        h5, csv = os.path.join(tmp, f"fit_{tag}.h5"), os.path.join(tmp, f"fit_{tag}.csv")
        r = subprocess.run(prefix + [exe, "fit", "--config", config, "--ids", "1,2,3,4,5,6,7", "--threads", threads,
                                     "--quiet", "--out", h5, "--table", csv], capture_output=True, text=True, timeout=600)
        check(r.returncode == 0, f"fit ({tag}) ran (exit {r.returncode}) {r.stderr[-300:]}")
        outs.append((h5, csv))
    if all(os.path.exists(h5) for h5, _ in outs):
        ok, detail = identical(datasets(outs[0][0]), datasets(outs[1][0]))
        check(ok, f"fit: mpirun -np 2 HDF5 identical to one process ({detail})")
        check(open(outs[0][1]).read() == open(outs[1][1]).read(), "fit: mpirun -np 2 table identical to one process")


def populations_from_files(exe, tmp):
    print("--iiv FILE.h5: a fit's subjects resampled; a vpop's population model read back")
    fit = os.path.join(tmp, "cohort_fit.h5")
    r = subprocess.run([exe, "fit", "--config", os.path.join(EXAMPLES, "stein2019_fit.toml"), "--ids", "1,2,3,4,5",
                        "--starts", "2", "--quiet", "--out", fit], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"fit ran (exit {r.returncode})")
    with h5py.File(fit, "r") as f:
        fixed = {n.decode() if isinstance(n, bytes) else n: v for n, v in
                 zip(f["/fit/parameters/fixed"][:], f["/fit/parameters/fixed_values"][:])}
        subjects = []
        for g in f["/fit/subjects"].values():
            names = [n.decode() if isinstance(n, bytes) else n for n in g["names"][:]]
            subjects.append(dict(zip(names, g["estimates"][:])))
    out = os.path.join(tmp, "from_fit.h5")
    r = run(exe, ["--model", "stein2019", "--iiv", fit, "--n", "400", "--out", out])
    check(r.returncode == 0, f"vpop --iiv fit.h5 ran (exit {r.returncode}) {r.stderr[-200:]}")
    with h5py.File(out, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["/vpop/population/parameter_names"][:]]
        rows = f["/vpop/patients/parameters"][:]
    which = []
    for row in rows:
        p = dict(zip(names, row))
        match = [k for k, s in enumerate(subjects) if all(p[n] == v for n, v in s.items() if n in p)]
        which.append(match[0] if len(match) == 1 and all(p[n] == v for n, v in fixed.items()) else -1)
    counts = np.bincount(np.array(which) + 1, minlength=len(subjects) + 1)
    check(counts[0] == 0, "every virtual patient is exactly one fitted subject (estimates) with the fit's fixed values")
    check(bool(np.all(counts[1:] > 400 / len(subjects) / 2)), f"each fitted subject drawn about equally often: {counts[1:]}")
    again = os.path.join(tmp, "from_vpop.h5")
    r = run(exe, ["--model", "stein2019", "--iiv", out, "--n", "400", "--out", again])
    ok, detail = identical(datasets(out, skip=("run_seconds",)), datasets(again, skip=("run_seconds",)))
    check(r.returncode == 0 and ok, f"a vpop file's population read back gives the same patients ({detail})")
    r = run(exe, ["--model", "lag_expansion", "--iiv", fit, "--n", "5", "--out", os.path.join(tmp, "wrong.h5")])
    check(r.returncode == 2 and "made for model stein2019" in r.stderr, f"another model's file: exit 2 ({r.stderr.strip()})")


def failure_isolation(exe, tmp):
    print("failure isolation: some patients fail in one scenario, the rest complete")
    iiv, sc = os.path.join(tmp, "fail_iiv.toml"), os.path.join(tmp, "fail_sc.toml")
    with open(iiv, "w") as f:
        f.write("[iiv]\nrho = { cv = 100 }\n")
    with open(sc, "w") as f:
        f.write("[scenario.usual]\n\n[scenario.fast]\nparameters = { rho = 300 }\n")
    out, table = os.path.join(tmp, "fail.h5"), os.path.join(tmp, "fail.csv")
    r = run(exe, ["--model", "cart_cd19_bcma", "--iiv", iiv, "--scenarios", sc, "--n", "40", "--times", "0,28,730",
                  "--max-steps", "800", "--integrator", "cvodes", "--out", out, "--table", table])
    check(r.returncode == 3, f"exit status 3 for partial failure (got {r.returncode}); {r.stderr.strip()[-200:]}")
    with h5py.File(out, "r") as f:
        usual = f["/vpop/scenarios/usual/status"][:, 0]
        fast = f["/vpop/scenarios/fast/status"][:, 0]
        fast_metrics = f["/vpop/scenarios/fast/metrics"][:]
        counts = f["/vpop/scenarios/fast/counts"][0]
        progress = f["/vpop/progress"][-1]
    check(bool(np.all(usual == 0)), "every patient completes the usual scenario")
    check(0 < np.sum(fast == 1) < 40, f"some patients fail the fast scenario ({int(np.sum(fast == 1))} of 40), not all")
    check(bool(np.all(np.isnan(fast_metrics[fast == 1]))) and bool(np.all(np.isfinite(fast_metrics[fast == 0][:, 0]))),
          "failed patients have NaN metrics, the others numbers")
    check(counts[0] == np.sum(fast == 0) and counts[1] == np.sum(fast == 1), f"counts {counts} match the statuses")
    check(progress[0] == 40 and progress[1] == 1, "the run completed all 40 patients")
    rows = open(table).read().splitlines()
    check(len(rows) == 1 + 80, f"the table has one row per patient and scenario ({len(rows) - 1})")


def interruption(exe, tmp):
    print("interruption: SIGINT writes a valid partial file; SIGKILL leaves OUT untouched and OUT.partial readable")
    iiv = os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml")
    out = os.path.join(tmp, "int.h5")
    args = [exe, "vpop", "--model", "cart_cd19_bcma", "--iiv", iiv, "--n", "100000", "--threads", "2", "--out", out]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    check(proc.returncode == 130, f"SIGINT: exit 130 (got {proc.returncode})")
    with h5py.File(out, "r") as f:
        progress = f["/vpop/progress"][-1]
        n_rows = f["/vpop/patients/parameters"].shape[0]
        status = f["/vpop/scenarios/base/status"][:, 0]
        counts = f["/vpop/scenarios/base/counts"][0]
    check(progress[1] == 0 and 0 < progress[0] < 100000, f"marked partial with {progress[0]} patients")
    check(n_rows == progress[0] and status.size == progress[0] and bool(np.all(status == 0)),
          "whole patients only: every row written is a complete patient")
    check(counts[0] == progress[0], "the summaries cover the patients written")

    with open(out, "rb") as f:
        before = f.read()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4.5)  # batches reach the disk every 2 s at the latest
    proc.kill()
    proc.wait()
    with open(out, "rb") as f:
        check(f.read() == before, "SIGKILL: OUT untouched")
    partial = out + ".partial"
    try:
        with h5py.File(partial, "r", swmr=True) as f:
            written = int(f["/vpop/progress"][:, 0].max())
            rows = f["/vpop/patients/parameters"][:written]
            st = f["/vpop/scenarios/base/status"][:written, 0]
        check(written > 0 and np.all(np.isfinite(rows)) and bool(np.all(st == 0)),
              f"SIGKILL: OUT.partial opens and holds {written} complete patients")
    except Exception as e:  # noqa: BLE001
        check(False, f"SIGKILL: OUT.partial readable ({e})")


def bad_input(exe, tmp):
    print("bad input: exit 2, the file/line/key or option/value named, nothing written")
    cases = []

    def toml(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    m2 = ["--model", "cart_cd19_bcma"]
    cases.append(("unknown parameter in the IIV file", m2 + ["--iiv", toml("b1.toml", "[iiv]\nrhoo = { cv = 30 }\n")],
                  ["b1.toml:2", "iiv.rhoo", "did you mean 'rho'"]))
    cases.append(("negative variance", m2 + ["--iiv", toml("b2.toml", "[iiv]\nrho = { omega2 = -0.2 }\n")],
                  ["b2.toml:2", "iiv.rho.omega2", "-0.2"]))
    cases.append(("correlations not positive definite", m2 + ["--iiv", toml("b3.toml",
                  "[iiv]\nrho = { cv = 30 }\ndele = { cv = 30 }\nkem = { cv = 30 }\n"
                  "[[correlation]]\na = \"rho\"\nb = \"dele\"\nr = 0.9\n[[correlation]]\na = \"rho\"\nb = \"kem\"\nr = 0.9\n"
                  "[[correlation]]\na = \"dele\"\nb = \"kem\"\nr = -0.9\n")], ["b3.toml", "not positive definite"]))
    iiv = os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml")
    cases.append(("unknown scenario key", m2 + ["--iiv", iiv, "--scenarios", toml("s1.toml", "[scenario.a]\ndose_perkg = 1e6\n")],
                  ["s1.toml:2", "scenario.a.dose_perkg", "did you mean 'dose_per_kg'"]))
    cases.append(("a scenario named twice", m2 + ["--iiv", iiv, "--scenarios", toml("s2.toml", "[scenario.a]\n[scenario.a]\n")],
                  ["s2.toml:2"]))
    cases.append(("a product the model lacks", m2 + ["--iiv", iiv, "--scenarios", toml("s3.toml", "[scenario.a]\nproduct = \"cd20\"\n")],
                  ["s3.toml:1", "cd20", "cd19-bcma"]))
    cases.append(("N <= 0", ["--model", "stein2019", "--n", "0"], ["--n 0"]))
    cases.append(("a dose <= 0", m2 + ["--iiv", iiv, "--dose-per-kg", "1e6,-5"], ["--dose-per-kg -5"]))
    cases.append(("a dose <= 0 in a scenario", m2 + ["--iiv", iiv, "--scenarios", toml("s4.toml", "[scenario.a]\ndose_per_kg = 0\n")],
                  ["s4.toml:2", "dose_per_kg"]))
    cases.append(("IIV on a parameter whose typical value forbids log-normal variability",
                  ["--model", "lag_expansion", "--iiv", toml("b4.toml", "[iiv]\ntlag = { cv = 50 }\n")], ["b4.toml:2", "iiv.tlag", "typical value"]))
    cases.append(("no published IIV", m2, ["cart_cd19_bcma", "--iiv"]))
    cases.append(("IIV file missing", m2 + ["--iiv", os.path.join(tmp, "nope.toml")], ["nope.toml"]))
    for name, args, require in cases:
        out = os.path.join(tmp, "bad.h5")
        args = args + (["--n", "10"] if "--n" not in args else []) + ["--out", out, "--table", os.path.join(tmp, "bad.csv")]
        r = run(exe, args)
        problems = [] if r.returncode == 2 else [f"exit {r.returncode}, expected 2"]
        problems += cli_checks.check_message(r.stderr, require, True, [])
        leftovers = [p for p in os.listdir(tmp) if p.startswith("bad.")]
        if leftovers:
            problems.append(f"wrote {leftovers}")
        check(not problems, f"{name}: {r.stderr.strip()}" + (f" -- {problems}" if problems else ""))


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="vpop_") as tmp:
        bands(exe, tmp)
        scenarios(exe, tmp)
        determinism(exe, tmp)
        mpi_determinism(exe, tmp)
        populations_from_files(exe, tmp)
        failure_isolation(exe, tmp)
        bad_input(exe, tmp)
        interruption(exe, tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
