#!/usr/bin/python3
"""Independent SciPy reference for `muellerschoell2021` (spec: shared/spec/published-models.md, section P3).

Mueller-Schoell A et al., Cancers 2021;13(11):2782: CD19 CAR-T (axicabtagene ciloleucel) as four phenotypes in
blood (cells/µL) on a differentiation chain, expanding on contact with the CD19+ tumour (metabolic tumour volume,
mL) and killing it. Written from the spec text alone (no code shared with, or read from, cartpk's C++ model), so
agreement between the two checks the equations. States, in the spec's order:
    TN, TCM, TEM, TEff (cells/µL), Tum (mL)
Time in days from the infusion. The spec's initial state: each phenotype 0.1 cells/µL, Tum(0) the patient's
baseline tumour volume (median 85.7 mL); here those are the entries tn0 ... teff0 and tum0 of the parameters.
The expansion rate:
    vmax1 = Vmax1_ref * (1 + asct_effect * prior_ASCT) * CD4CD8_ratio ** cd4cd8_exp
with asct_effect = 2.53 and cd4cd8_exp = -0.385 (spec); the low-expansion class uses Vmax1_low = 0.000700
instead of Vmax1_ref and, as the paper's Equation 11 has it (nlmixr2lib's reading), no CD4/CD8 term.

Use:
    import muellerschoell2021_reference as ms
    y = ms.solve([0, 7, 28, 365])          # (5, n) in STATES order
    obs = ms.observables(y)                 # dict tn, tcm, tem, teff, cart, tumor
"""
import numpy as np
from scipy.integrate import solve_ivp

STATES = ("TN", "TCM", "TEM", "TEff", "Tum")
OBSERVABLES = ("tn", "tcm", "tem", "teff", "cart", "tumor")

# The spec's values (P3), under cartpk's parameter names.
DEFAULTS = {
    "Vmax1_ref": 0.00846,     # (cells/µL)/day/mL
    "asct_effect": 2.53,      # fractional change of vmax1 with a prior ASCT
    "cd4cd8_exp": -0.385,     # exponent of the CD4/CD8 ratio
    "prior_ASCT": 0.0,        # covariate, 0/1
    "CD4CD8_ratio": 1.0,      # covariate
    "KM1": 1.13,              # cells/µL
    "k12": 0.140, "k23": 0.191, "k34": 0.355,              # 1/day
    "ke1": 0.0104, "ke2": 0.0104, "ke3": 0.0104, "ke4": 0.518,  # 1/day
    "kp1": 0.0005, "kp2": 0.007, "kp3": 0.007,             # 1/day
    "Vmax5_TN": 2.57, "Vmax5_TCM": 4.04, "Vmax5_TEM": 3.78, "Vmax5_TEff": 4.24,  # mL/day per cell/µL
    "KM5": 276.0,             # mL
    "k5": 0.0023,             # 1/day
    "K0": 5000.0,             # mL
    "tn0": 0.1, "tcm0": 0.1, "tem0": 0.1, "teff0": 0.1,    # cells/µL
    "tum0": 85.7,             # mL
}
VMAX1_LOW = 0.000700
PRESETS = {
    "reference": {"Vmax1_ref": 0.00846, "cd4cd8_exp": -0.385},
    "low_expansion": {"Vmax1_ref": VMAX1_LOW, "cd4cd8_exp": 0.0},
}


def params(**overrides):
    """The defaults with `overrides` applied (unknown names are an error)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown muellerschoell2021 parameter(s): {', '.join(sorted(unknown))}")
    p = dict(DEFAULTS)
    p.update({k: float(v) for k, v in overrides.items()})
    return p


def initial_state(p):
    return np.array([p["tn0"], p["tcm0"], p["tem0"], p["teff0"], p["tum0"]], dtype=float)


def vmax1(p):
    return p["Vmax1_ref"] * (1.0 + p["asct_effect"] * p["prior_ASCT"]) * p["CD4CD8_ratio"] ** p["cd4cd8_exp"]


def rhs(t, x, p):
    TN, TCM, TEM, TEff, Tum = x
    v1 = vmax1(p)
    km1 = p["KM1"]
    dTN = v1 * Tum * TN / (km1 + TN) + p["kp1"] * TN - p["k12"] * TN - p["ke1"] * TN
    dTCM = v1 * Tum * TCM / (km1 + TCM) + p["kp2"] * TCM + p["k12"] * TN - p["k23"] * TCM - p["ke2"] * TCM
    dTEM = v1 * Tum * TEM / (km1 + TEM) + p["kp3"] * TEM + p["k23"] * TCM - p["k34"] * TEM - p["ke3"] * TEM
    dTEff = p["k34"] * TEM - p["ke4"] * TEff
    sat = Tum / (p["KM5"] + Tum)
    kill = (p["Vmax5_TN"] * TN + p["Vmax5_TCM"] * TCM + p["Vmax5_TEM"] * TEM + p["Vmax5_TEff"] * TEff) * sat
    dTum = p["k5"] * (1.0 - Tum / p["K0"]) * Tum - kill
    return np.array([dTN, dTCM, dTEM, dTEff, dTum])


def jac(t, x, p):
    """The exact Jacobian (for the implicit integrators)."""
    TN, TCM, TEM, TEff, Tum = x
    v1, km1, km5 = vmax1(p), p["KM1"], p["KM5"]
    J = np.zeros((5, 5))
    for i, (T, kp, kout) in enumerate(((TN, p["kp1"], p["k12"] + p["ke1"]), (TCM, p["kp2"], p["k23"] + p["ke2"]),
                                       (TEM, p["kp3"], p["k34"] + p["ke3"]))):
        J[i, i] = v1 * Tum * km1 / (km1 + T) ** 2 + kp - kout
        J[i, 4] = v1 * T / (km1 + T)
    J[1, 0] = p["k12"]
    J[2, 1] = p["k23"]
    J[3, 2] = p["k34"]
    J[3, 3] = -p["ke4"]
    sat = Tum / (km5 + Tum)
    for i, name in enumerate(("Vmax5_TN", "Vmax5_TCM", "Vmax5_TEM", "Vmax5_TEff")):
        J[4, i] = -p[name] * sat
    killers = p["Vmax5_TN"] * TN + p["Vmax5_TCM"] * TCM + p["Vmax5_TEM"] * TEM + p["Vmax5_TEff"] * TEff
    J[4, 4] = p["k5"] * (1.0 - 2.0 * Tum / p["K0"]) - killers * km5 / (km5 + Tum) ** 2
    return J


def solve(times, p=None, rtol=1e-11, atol=1e-16, method="LSODA"):
    """States at `times` (ascending, >= 0) from the t = 0 initial state: array (5, len(times))."""
    p = DEFAULTS if p is None else p
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times must be a non-empty ascending 1-D sequence of values >= 0")
    y0 = initial_state(p)
    if times[-1] == 0.0:
        return np.repeat(y0[:, None], times.size, axis=1)
    kwargs = {} if method == "RK45" or method == "DOP853" else {"jac": jac}
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, method=method, t_eval=times, args=(p,), rtol=rtol,
                    atol=atol, **kwargs)
    if not sol.success:
        raise RuntimeError(f"solve_ivp({method}) failed: {sol.message}")
    return sol.y


def observables(y, p=None):
    """The spec's observables from states y (5, n): dict name -> array (n,)."""
    TN, TCM, TEM, TEff, Tum = y
    return {"tn": TN, "tcm": TCM, "tem": TEM, "teff": TEff, "cart": TN + TCM + TEM + TEff, "tumor": Tum}


if __name__ == "__main__":
    t = np.array([0, 1, 7, 14, 28, 60, 90, 180, 365], dtype=float)
    for name, ov in [("reference", {}), ("low_expansion", PRESETS["low_expansion"]), ("prior ASCT", {"prior_ASCT": 1})]:
        obs = observables(solve(t, params(**ov)))
        print(name)
        for i, ti in enumerate(t):
            print(f"  day {ti:5g}: " + ", ".join(f"{k} {v[i]:.6g}" for k, v in obs.items()))
