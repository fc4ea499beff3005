#!/usr/bin/python3
"""`cartpk popfit` on the mechanistic model M2 (cart_cd19_bcma): 40 subjects drawn by the independent SciPy
reference (tests/python/m2_reference.py via popfit_population.simulate_m2) with log-normal variability on rho,
dele, kem and kmax19 (ω² = 0.1), 1e6 cells/kg, qPCR and B cells to day 365. SAEM and FOCE-I each recover the typical
values within 20 % and the ω² within 40 % of the population actually drawn, and σ within 20 %.

Usage: test_popfit_m2.py <path to cartpk>        (Release builds only: the fits take minutes under sanitizers)
Prints "N passed, M failed".
"""
import os
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402
import popfit_population as pp  # noqa: E402

check = cli_checks.Checks()
RANDOM = {"rho": 0.1, "dele": 0.1, "kem": 0.1, "kmax19": 0.1}


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    work = tempfile.mkdtemp(prefix="cartpk_popfit_m2_")
    data = os.path.join(work, "m2_40.csv")
    typical, omega2 = pp.realised_m2(pp.simulate_m2(data, 40, seed=2, omega2=RANDOM))
    for method, extra in (("saem", ["--saem-iterations", "100,50", "--is-samples", "100"]), ("focei", [])):
        out = os.path.join(work, method + ".h5")
        r = subprocess.run([exe, "popfit", "--quiet", "--model", "cart_cd19_bcma", "--data", data, "--dvid", "1=qpcr,2=bcell",
                            "--estimate", ",".join(RANDOM), "--bounds", "kmax19=0.01:10", "--error", "bcell=lognormal:0.3",
                            "--integrator", "auto", "--method", method, "--threads", "2", "--out", out] + extra,
                           capture_output=True, text=True, timeout=1500)
        check(r.returncode == 0, f"{method}: exit 0 {r.stderr[-300:]}")
        if r.returncode != 0:
            continue
        with h5py.File(out, "r") as f:
            g = f["popfit/parameters"]
            est = {n.decode(): e for n, e in zip(g["names"][()], g["estimates"][()])}
            seconds = f["popfit"].attrs["fit_seconds"]
        print(f"  info  {method}: {seconds:.0f} s")
        for k in RANDOM:
            check(abs(est[k] / typical[k] - 1) < 0.20, f"{method} typical {k} {est[k]:.4g} vs drawn {typical[k]:.4g} (20 %)")
            o = est["omega2_" + k]
            check(abs(o / omega2[k] - 1) < 0.40, f"{method} omega2 {k} {o:.4g} vs drawn {omega2[k]:.4g} (40 %)")
        for obs, sd in (("qpcr", 0.3), ("bcell", 0.2)):
            s = est["sigma_" + obs]
            check(abs(s / sd - 1) < 0.20, f"{method} sigma_{obs} {s:.4g} vs {sd} (20 %)")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
