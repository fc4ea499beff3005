"""An independent generator of population datasets for the popfit tests: NumPy draws each subject's parameters
from the population model (log-normal, logit-normal for fractions) and computes the stein2019 closed form from the
spec's equations (../shared/spec/models.md, M1), with log-normal residual error. Returns the realised η, so a test
can compare estimates with the population that was actually drawn, not only with its nominal values."""
import math

import numpy as np

STEIN_TYPICAL = {"foldx": 3900.0, "tmax": 9.3, "cmax": 24000.0, "alpha": 0.16, "fb": 0.0079, "beta": 0.0032}
STEIN_OMEGA2 = {"foldx": 2.4, "tmax": 0.38, "cmax": 0.65, "alpha": 0.91, "fb": 0.8, "beta": 0.86}  # Stein 2019
FRACTIONS = {"fb"}
SAMPLING_DAYS = [1, 3, 5, 7, 10, 14, 21, 28, 56, 90, 180, 365, 540, 730]  # to 2 years, as CAR-T follow-up


def to_scale(name, value):
    return math.log(value / (1 - value)) if name in FRACTIONS else math.log(value)


def from_scale(name, phi):
    return 1 / (1 + math.exp(-phi)) if name in FRACTIONS else math.exp(phi)


def stein2019(p, t):
    """M1: exponential growth from cmax/foldx to cmax at tmax, then biexponential decline."""
    if t < p["tmax"]:
        return p["cmax"] / p["foldx"] * math.exp(math.log(p["foldx"]) / p["tmax"] * t)
    d = t - p["tmax"]
    return p["cmax"] * ((1 - p["fb"]) * math.exp(-p["alpha"] * d) + p["fb"] * math.exp(-p["beta"] * d))


def simulate_stein(path, n, seed, sigma=0.3, lloq=None, omega2=None, days=SAMPLING_DAYS):
    """Writes a NONMEM-style CSV (ID, TIME, DV, CENS, DVID=qpcr); returns {name: realised η array}. `omega2`
    (default Stein 2019's) gives each parameter's variance; a parameter it leaves out has none."""
    rng = np.random.default_rng(seed)
    omega2 = STEIN_OMEGA2 if omega2 is None else omega2
    etas = {k: np.zeros(n) for k in STEIN_TYPICAL}
    with open(path, "w") as out:
        out.write("ID,TIME,DV,CENS,DVID,WT\n")
        for i in range(n):
            p = {}
            for k, typical in STEIN_TYPICAL.items():
                if k in omega2:
                    etas[k][i] = rng.normal(0.0, math.sqrt(omega2[k]))
                p[k] = from_scale(k, to_scale(k, typical) + etas[k][i])
            weight = 70 * math.exp(rng.normal(0, 0.2))
            for t in days:
                y = stein2019(p, t) * math.exp(rng.normal(0.0, sigma))
                censored = lloq is not None and y < lloq
                out.write(f"{i + 1},{t},{lloq if censored else y:.8g},{1 if censored else 0},qpcr,{weight:.4g}\n")
    return etas


def realised_population(etas):
    """Typical value and ω² of the population actually drawn: back-transformed mean of φ, variance of η."""
    typical = {k: from_scale(k, to_scale(k, STEIN_TYPICAL[k]) + float(np.mean(e))) for k, e in etas.items()}
    omega2 = {k: float(np.var(e, ddof=1)) for k, e in etas.items() if np.any(e != 0)}
    return typical, omega2


M2_DAYS = [1, 3, 7, 10, 14, 21, 28, 56, 90, 180, 365]


def simulate_m2(path, n, seed, omega2, sigma=None):
    """M2 (cart_cd19_bcma) population from the independent SciPy reference (m2_reference.py): log-normal variability
    on the parameters in `omega2` around the spec's defaults, 1e6 cells/kg at day 0, qPCR (DVID 1) and B cells
    (DVID 2) with log-normal residual error. Returns {name: realised η}."""
    import m2_reference as m2
    sigma = sigma or {"qpcr": 0.3, "bcell": 0.2}
    rng = np.random.default_rng(seed)
    etas = {k: np.zeros(n) for k in omega2}
    with open(path, "w") as out:
        out.write("ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,WT\n")
        for i in range(n):
            overrides = {}
            for k, w in omega2.items():
                etas[k][i] = rng.normal(0.0, math.sqrt(w))
                overrides[k] = m2.DEFAULTS[k] * math.exp(etas[k][i])
            weight = float(np.clip(70 * math.exp(rng.normal(0, 0.2)), 40, 150))
            out.write(f"{i + 1},0,1,{1e6 * weight:.6g},.,.,0,1,{weight:.4g}\n")
            obs = m2.observables(m2.solve(M2_DAYS, m2.params(**overrides), rtol=1e-9, atol=1e-12), m2.params(**overrides))
            for j, t in enumerate(M2_DAYS):
                for dvid, name in ((1, "qpcr"), (2, "bcell")):
                    y = obs[name][j] * math.exp(rng.normal(0.0, sigma[name]))
                    out.write(f"{i + 1},{t},0,.,{y:.8g},{dvid},0,0,{weight:.4g}\n")
    return etas


def realised_m2(etas):
    import m2_reference as m2
    typical = {k: m2.DEFAULTS[k] * math.exp(float(np.mean(e))) for k, e in etas.items()}
    omega2 = {k: float(np.var(e, ddof=1)) for k, e in etas.items()}
    return typical, omega2
