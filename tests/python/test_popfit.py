#!/usr/bin/python3
"""`cartpk popfit` end to end, against populations drawn by an independent generator (popfit_population.py).

Usage: test_popfit.py <path to cartpk>

- stein2019, 100 subjects with Stein 2019's published variability: SAEM and FOCE-I each recover the typical values
  within 10 % and the ω² within 30 % of the population actually drawn (the realised mean and variance of η, so the
  check measures estimation error, not the luck of drawing 100 subjects), σ within 10 %;
- SAEM and FOCE-I agree with each other within their SEs;
- the per-subject table has the EBE of every parameter, the η, and matches the HDF5;
- the same numbers with --threads 1 and --threads 2, and with `mpirun -np 2` (when built with MPI);
- a popfit result feeds `cartpk vpop --iiv` (its typical values and Ω are what vpop samples); with a categorical
  effect, vpop draws each patient's level with the data's observed proportions and applies the effect to its level;
- BLQ records (M3) are accepted and counted; NPDE and PD are given for every record, BLQ ones included;
- SIGINT writes the last completed iteration as a valid file marked interrupted (exit 130);
- bad input exits 2 naming the option, file and what was expected, and writes nothing.
Prints "N passed, M failed".
"""
import csv
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402
import popfit_population as pp  # noqa: E402

check = cli_checks.Checks()


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def popfit(exe, args, expect=0):
    r = subprocess.run([exe, "popfit", "--quiet"] + args, capture_output=True, text=True, timeout=900)
    if r.returncode != expect:
        print(r.stdout, r.stderr)
    return r


def table(path):
    f = h5py.File(path, "r")
    names = [text(x) for x in f["popfit/parameters/names"][()]]
    est = f["popfit/parameters/estimates"][()]
    se = f["popfit/parameters/se"][()]
    return {n: (e, s) for n, e, s in zip(names, est, se)}, f


def check_categorical_vpop(exe, work, fit, data):
    """vpop --iiv on a fit with cmax~LD:categorical:1: the levels drawn with the data's observed LD proportions,
    cmax shifted by exp(beta) for level 1 only, the table's LD column the drawn level; an older file without the
    proportions refused."""
    ld = {row["ID"]: row["LD"] for row in csv.DictReader(open(data))}  # one LD value per subject
    observed = {level: sum(v == level for v in ld.values()) / len(ld) for level in sorted(set(ld.values()))}
    out, out_table = os.path.join(work, "vpop_ld.h5"), os.path.join(work, "vpop_ld.csv")
    vpop = [exe, "vpop", "--model", "stein2019", "--n", "400", "--end", "28", "--step", "7", "--quiet"]
    r = subprocess.run(vpop + ["--iiv", fit, "--out", out, "--table", out_table], capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, f"vpop --iiv simulates a fit with a categorical effect ({r.stderr.strip()[-200:]})")
    if r.returncode != 0:
        return
    fitted = h5py.File(fit, "r")["popfit/parameters"]
    names, kinds = [text(x) for x in fitted["names"][()]], [text(x) for x in fitted["kinds"][()]]
    beta, typical = fitted["estimates"][kinds.index("beta")], fitted["estimates"][names.index("cmax")]
    v = h5py.File(out, "r")["vpop"]
    g = v["population"]
    recorded = {text(level): p for c, level, p in zip(g["category_covariate"][()], g["category_level"][()],
                                                      g["category_probability"][()]) if text(c) == "LD"}
    check([text(x) for x in g["relation_form"][()]] == ["categorical"] and recorded == observed,
          f"/vpop/population carries the categorical relation and the data's observed LD proportions "
          f"({recorded} vs {observed})")
    levels = [text(level) for c, level in zip(g["category_covariate"][()], g["category_level"][()]) if text(c) == "LD"]
    patients = v["patients"]
    codes = patients["categories"][()][:, [text(c) for c in patients["categories"].attrs["columns"]].index("LD")]
    drawn = [levels[k] for k in codes]
    for level, p in observed.items():
        fraction = drawn.count(level) / len(drawn)
        check(abs(fraction - p) <= 4 * math.sqrt(p * (1 - p) / len(drawn)),
              f"LD {level} drawn for {fraction:.3f} of 400 patients vs observed {p:.3f} (within 4 binomial SE)")
    cmax = patients["parameters"][()][:, [text(c) for c in patients["parameters"].attrs["columns"]].index("cmax")]
    eta = patients["eta"][()][:, [text(c) for c in patients["eta"].attrs["columns"]].index("cmax")]
    expected = np.array([typical * (math.exp(beta) if level == "1" else 1.0) for level in drawn])
    worst = np.max(np.abs(cmax / np.exp(eta) / expected - 1))
    check(len(set(drawn)) == 2 and worst < 1e-9,
          f"cmax/exp(eta_cmax) is typical*exp(beta) for LD 1 and typical for LD 0 (worst relative {worst:.1e})")
    rows = list(csv.DictReader(open(out_table)))
    check([row["LD"] for row in rows] == drawn, "--table: an LD column with each patient's drawn level")
    # The vpop file as the population of another run: the same seed draws the same levels and parameters.
    again = os.path.join(work, "vpop_ld_again.h5")
    r = subprocess.run(vpop + ["--iiv", out, "--out", again], capture_output=True, text=True, timeout=300)
    same = r.returncode == 0 and all(np.array_equal(h5py.File(again, "r")["vpop/patients/" + d][()], patients[d][()])
                                     for d in ("categories", "parameters"))
    check(same, f"vpop --iiv VPOP.h5 draws the same levels and parameters ({r.stderr.strip()[-200:]})")
    # A fit written before the proportions were recorded: refused, naming the file and the covariate.
    older = os.path.join(work, "older_categorical.h5")
    shutil.copyfile(fit, older)
    with h5py.File(older, "a") as f:
        for d in ("category_covariate", "category_level", "category_probability"):
            del f["popfit/population/" + d]
    refused = os.path.join(work, "refused.h5")
    r = subprocess.run(vpop + ["--iiv", older, "--out", refused], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and older in r.stderr and "LD" in r.stderr and not os.path.exists(refused),
          f"vpop --iiv refuses a categorical fit without recorded proportions, naming the file and covariate "
          f"(exit {r.returncode}: {r.stderr.strip()[-200:]})")


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    work = tempfile.mkdtemp(prefix="cartpk_popfit_")
    data = os.path.join(work, "stein100.csv")
    etas = pp.simulate_stein(data, 100, seed=2019)
    typical, omega2 = pp.realised_population(etas)
    base = ["--model", "stein2019", "--data", data, "--threads", "2"]
    fits = {}
    for method in ("saem", "focei"):
        out = os.path.join(work, method + ".h5")
        r = popfit(exe, base + ["--method", method, "--out", out, "--table", os.path.join(work, method + ".csv"),
                                "--pop-table", os.path.join(work, method + "_pop.csv")])
        check(r.returncode == 0, f"{method}: exit 0")
        est, f = table(out)
        fits[method] = (est, f)
        for k in pp.STEIN_TYPICAL:
            e = est[k][0]
            check(abs(e / typical[k] - 1) < 0.10, f"{method} typical {k} {e:.5g} vs drawn {typical[k]:.5g} (within 10 %)")
            o = est["omega2_" + k][0]
            check(abs(o / omega2[k] - 1) < 0.30, f"{method} omega2 {k} {o:.4g} vs drawn {omega2[k]:.4g} (within 30 %)")
        s = est["sigma_qpcr"][0]
        check(abs(s / 0.3 - 1) < 0.10, f"{method} sigma {s:.4g} vs 0.3 (within 10 %)")
        check(all(np.isfinite(v[1]) and v[1] > 0 for v in est.values()), f"{method}: every parameter has a SE")
        if method == "saem":  # the automatic stop: the iterations recorded are the ones the trace shows
            a = f["popfit"].attrs
            explored, annealed = int(a["saem_explore_iterations"]), int(a["saem_annealing_iterations"])
            burn_in = int(a["saem_burn_in_iterations"])
            check(text(a["saem_exploration"]) == "auto" and burn_in == 5 and annealed < explored <= 300 and
                  f["popfit/trace"].shape[0] == burn_in + explored + 100,
                  f"saem: exploration stopped after {explored} iterations (annealing {annealed}), the trace has "
                  f"{f['popfit/trace'].shape[0]} rows = {burn_in} + {explored} + 100")
        # The subject table: one row per subject, every model parameter and η, equal to the HDF5's EBEs.
        rows = list(csv.DictReader(open(os.path.join(work, method + ".csv"))))
        ebe = f["popfit/subjects/ebe"][()]
        pnames = [text(x) for x in f["popfit/subjects/parameter_names"][()]]
        check(len(rows) == 100 and all("eta_" + k in rows[0] for k in pp.STEIN_TYPICAL) and all(p in rows[0] for p in pnames),
              f"{method} --table: 100 rows with every parameter and eta column")
        check(max(abs(float(rows[i]["cmax"]) / ebe[i, pnames.index("cmax")] - 1) for i in range(100)) < 1e-12,
              f"{method} --table EBEs equal the HDF5's")
        pop_rows = list(csv.DictReader(open(os.path.join(work, method + "_pop.csv"))))
        check([r["parameter"] for r in pop_rows] == list(est.keys()), f"{method} --pop-table lists the population parameters")
    saem, focei = fits["saem"][0], fits["focei"][0]
    for k in saem:
        d = abs(saem[k][0] - focei[k][0])
        check(d < 2 * max(saem[k][1], focei[k][1]), f"SAEM and FOCE-I agree on {k}: {saem[k][0]:.4g} vs {focei[k][0]:.4g}")
    for method in ("saem", "focei"):
        a = fits[method][1]["popfit"].attrs
        print(f"  info  {method}: -2LL {a['minus2ll']:.2f} ({text(a['minus2ll_method'])}), {a['fit_seconds']:.1f} s")

    # Thread-count independence (a shorter SAEM) and FOCE-I.
    small = os.path.join(work, "stein30.csv")
    pp.simulate_stein(small, 30, seed=7, lloq=20.0)
    outs = []
    for threads in ("1", "2"):
        out = os.path.join(work, f"t{threads}.h5")
        popfit(exe, ["--model", "stein2019", "--data", small, "--threads", threads, "--saem-iterations", "40,20",
                     "--is-samples", "200", "--out", out])
        outs.append(out)
    same, what = cli_checks.identical_numbers(cli_checks.h5_numbers(outs[0]), cli_checks.h5_numbers(outs[1]))
    check(same, f"SAEM: identical numbers with --threads 1 and 2 ({what})")
    launcher, why = cli_checks.mpi_launcher(exe)
    if launcher is None:
        print(f"  skip  mpirun -np 2: {why}")
    for method in ("saem", "focei") if launcher else ():
        one, two = os.path.join(work, f"mpi1_{method}.h5"), os.path.join(work, f"mpi2_{method}.h5")
        args = ["--model", "stein2019", "--data", small, "--method", method, "--saem-iterations", "40,20",
                "--is-samples", "200", "--threads", "1", "--quiet"]
        subprocess.run([exe, "popfit"] + args + ["--out", one], capture_output=True, timeout=600)
        r = subprocess.run(launcher + [exe, "popfit"] + args + ["--out", two], capture_output=True, text=True, timeout=600)
        same, what = cli_checks.identical_numbers(cli_checks.h5_numbers(one), cli_checks.h5_numbers(two)) \
            if r.returncode == 0 else (False, r.stderr[-300:])
        check(same, f"{method}: mpirun -np 2 identical to one process ({what})")
    f = h5py.File(outs[0], "r")
    n_cens = sum(1 for r in csv.DictReader(open(small)) if r["CENS"] == "1")
    check(n_cens > 0 and f["popfit"].attrs["n_censored"] == n_cens, f"BLQ records counted ({n_cens})")
    cwres = f["popfit/observations/table"][()][:, 7]
    cens = f["popfit/observations/table"][()][:, 3]
    check(np.all(np.isnan(cwres[cens == 1])) and np.all(np.isfinite(cwres[cens == 0])), "CWRES NaN exactly for BLQ records")
    columns = [text(c) for c in f["popfit/observations/columns"][()]]
    npde = f["popfit/observations/table"][()][:, columns.index("NPDE")]
    pd = f["popfit/observations/table"][()][:, columns.index("PD")]
    check(f["popfit"].attrs["npde_samples"] == 1000 and np.all(np.isfinite(npde)) and np.all((pd > 0) & (pd < 1)),
          f"NPDE and PD for every record, BLQ ones included (NPDE mean {npde.mean():.2f}, variance {npde.var():.2f})")

    # A popfit result as vpop's population.
    vp = os.path.join(work, "vp.h5")
    r = subprocess.run([exe, "vpop", "--model", "stein2019", "--iiv", os.path.join(work, "saem.h5"), "--n", "200",
                        "--end", "28", "--step", "7", "--out", vp, "--quiet"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "vpop --iiv popfit.h5 runs")
    if r.returncode == 0:
        g = h5py.File(vp, "r")["vpop/population"]
        om = g["omega"][()]
        check(abs(om[2, 2] / saem["omega2_cmax"][0] - 1) < 1e-12, "vpop samples the fitted Omega")
        names = [text(n) for n in g["random_effects"][()]]
        scales = dict(zip(names, [text(s) for s in g["random_effect_scales"][()]]))
        check(scales.get("fb") == "logit" and scales.get("cmax") == "log",
              f"vpop samples each random effect on the scale the fit estimated it (fb logit, cmax log): {scales}")
    # A fit with a categorical effect: recorded in /popfit/population with the observed proportions of its levels,
    # simulated by vpc on the observed subjects and by vpop on virtual patients whose levels are drawn. LD = 1 for two
    # subjects in three: unequal proportions, so a draw ignoring them shows (0.5 is 7 binomial SE away at n = 400).
    with open(small) as src, open(os.path.join(work, "stein30_ld.csv"), "w") as dst:
        header = src.readline().rstrip("\n").split(",")
        dst.write(",".join(header + ["LD"]) + "\n")
        for line in src:
            row = line.rstrip("\n").split(",")
            dst.write(",".join(row + [str(int(int(row[header.index("ID")]) % 3 != 0))]) + "\n")
    categorical = os.path.join(work, "categorical.h5")
    r = popfit(exe, ["--model", "stein2019", "--data", os.path.join(work, "stein30_ld.csv"), "--threads", "2",
                     "--covariate", "cmax~LD:categorical:1", "--saem-iterations", "20,10", "--is-samples", "50",
                     "--npde-samples", "0", "--out", categorical])
    check(r.returncode == 0, f"popfit with a categorical effect runs ({r.stderr.strip()[-200:]})")
    if r.returncode == 0:
        check_categorical_vpop(exe, work, categorical, os.path.join(work, "stein30_ld.csv"))
        c = h5py.File(categorical, "r")["popfit"]
        g = c["population"]
        kinds = [text(k) for k in c["parameters/kinds"][()]]
        beta = c["parameters/estimates"][()][kinds.index("beta")]
        check([text(x) for x in g["relation_form"][()]] == ["categorical"] and
              [text(x) for x in g["relation_level"][()]] == ["1"] and g["relation_coefficient"][0] == beta,
              f"/popfit/population records the categorical effect (form, level 1, coefficient = the fitted beta {beta:.4f})")
        r = subprocess.run([exe, "vpc", "--fit", categorical, "--data", os.path.join(work, "stein30_ld.csv"),
                            "--replicates", "20", "--out", os.path.join(work, "vpc_ld.h5"), "--quiet"],
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, f"vpc simulates a fit with a categorical effect ({r.stderr.strip()[-200:]})")

    # An analysis file's [popfit] table means what the same options on the command line mean.
    config = os.path.join(work, "run.toml")
    from_file = os.path.join(work, "from_file.h5")
    with open(config, "w") as cf:
        cf.write(f'[popfit]\nmodel = "stein2019"\ndata = "{small}"\nthreads = 1\nsaem_iterations = "40,20"\n'
                 f'is_samples = 200\nout = "{from_file}"\n')
    r = popfit(exe, ["--config", config])
    same, what = cli_checks.identical_numbers(cli_checks.h5_numbers(outs[0]), cli_checks.h5_numbers(from_file)) \
        if r.returncode == 0 else (False, r.stderr[-200:])
    check(same, f"--config [popfit] gives the command line's numbers ({what})")

    # SIGINT: the last completed iteration is written as a valid file marked interrupted, exit 130.
    partial = os.path.join(work, "partial.h5")
    proc = subprocess.Popen([exe, "popfit", "--model", "stein2019", "--data", data, "--saem-iterations", "100000,10",
                             "--saem-exploration", "fixed", "--is-samples", "50", "--out", partial], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    check(proc.returncode == 130 and "interrupted" in err, f"SIGINT: exit {proc.returncode} (130), says interrupted")
    if os.path.exists(partial):
        with h5py.File(partial, "r") as f:
            n_iter = f["popfit/trace"].shape[0]
            ok = f["popfit"].attrs["interrupted"] == 1 and 0 < n_iter < 100015 and \
                np.all(np.isfinite(f["popfit/parameters/estimates"][()]))
        check(ok, f"SIGINT: a valid file marked interrupted after {n_iter} iterations")
    else:
        check(False, "SIGINT: no file written")

    # Bad input: exit 2, the option/file named, nothing written.
    bad_out = os.path.join(work, "bad.h5")
    textwt = os.path.join(work, "textwt.csv")
    lines = open(small).read().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",heavy"
    open(textwt, "w").write("\n".join(lines) + "\n")
    not_pd = os.path.join(work, "notpd.toml")
    open(not_pd, "w").write("[iiv]\ncmax = { omega2 = 0.5 }\ntmax = { omega2 = 0.3 }\nalpha = { omega2 = 0.4 }\n"
                            "[[correlation]]\na = \"cmax\"\nb = \"tmax\"\nr = 0.9\n"
                            "[[correlation]]\na = \"tmax\"\nb = \"alpha\"\nr = 0.9\n"
                            "[[correlation]]\na = \"cmax\"\nb = \"alpha\"\nr = -0.9\n")
    cases = [
        ("random effect on a fixed parameter", ["--data", small, "--fix", "cmax=24000", "--iiv", "cmax,tmax"], ["--iiv", "cmax"]),
        ("covariate column missing", ["--data", small, "--covariate", "cmax~AGE:power"], ["AGE", small]),
        ("covariate not numeric", ["--data", textwt, "--covariate", "cmax~WT:power"], ["WT", textwt]),
        ("covariate on an unknown parameter", ["--data", small, "--covariate", "vmax~WT:power"], ["--covariate", "vmax"]),
        ("Omega not positive definite", ["--data", small, "--omega-init", not_pd], [not_pd]),
        ("fewer subjects than random effects", ["--data", small, "--ids", "1,2,3"], ["random effects"]),
        ("unknown method", ["--data", small, "--method", "laplace"], ["--method", "laplace"]),
        ("negative NPDE replicates", ["--data", small, "--npde-samples", "-1"], ["--npde-samples", "-1"]),
        ("unknown SAEM exploration mode", ["--data", small, "--saem-exploration", "sometimes"],
         ["--saem-exploration", "sometimes", "auto or fixed"]),
    ]
    for name, args, require in cases:
        r = popfit(exe, ["--model", "stein2019", "--out", bad_out] + args, expect=2)
        cli_checks.check_bad_input(check, name, r, require, bad_out)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
