#!/usr/bin/python3
"""Independent SciPy reference for the published model `singh2021_idecel` (spec: shared/spec/published-models.md,
section P2: Singh AP et al., CPT Pharmacometrics Syst Pharmacol 2021;10(4):362-376, BCMA CAR-T ide-cel).

Written from the spec text alone (no code shared with, or read from, cartpk's C++ model), so agreement between
the two is a real check of the equations. States, in the spec's order:
    Epb, Mpb   blood effector / memory CAR-T (cells)
    Et, Mt     bone-marrow effector / memory CAR-T (cells)
    Cplx       CAR-BCMA complexes (per L of marrow)
    Tumor      myeloma cells (cells/L of marrow)
    Mprot      serum M-protein (g/L)
    sBCMA      soluble BCMA (ng/mL)
Time is in days. The dose (CAR+ cells) enters Epb at t = 0; Et(0) = 1e-6·Vbm, Tumor(0) = Tumor0, M-protein and
sBCMA at the steady state of their own equations at Tumor = Tumor0, everything else 0.

The model is stiff (Kel_e 113 /day; CAR-BCMA dissociation koff = Koff·86400 ≈ 206 /day), so the solver is an
implicit one (Radau by default, or BDF/LSODA) with the analytic Jacobian below.

Use:
    import singh2021_idecel_reference as ref
    y = ref.solve([0, 1, 7, 28, 365], ref.DEFAULTS, dose_cells=150e6)   # (8, len(times)) in STATES order
    obs = ref.observables(y, ref.DEFAULTS)                              # dict transgene, tumor, mprotein, sbcma
"""
import numpy as np
from scipy.integrate import solve_ivp

STATES = ("Epb", "Mpb", "Et", "Mt", "Cplx", "Tumor", "Mprot", "sBCMA")
OBSERVABLES = ("transgene", "tumor", "mprotein", "sbcma")

SECONDS_PER_DAY = 86400.0
AVOGADRO = 6.023e23  # as the spec writes it (kon = Kon·86400/6.023e23)

# The spec's values: estimated (mean CRB-401 fit), then fixed. `dose` is the infused CAR+ cells (the CRB-401
# levels are 50, 150, 450 and 800 x 10^6); a dose record of a fraction f of the dose parameter infuses f·dose.
DEFAULTS = {
    "dose": 150e6,
    "Kexp_max": 1.73,
    "EC50_exp": 10.0,
    "Rm": 2e-5,
    "Kel_e": 113.0,
    "Kel_m": 0.219,
    "K12": 1.71,
    "K21": 0.176,
    "Kkill_max": 0.343,
    "gamma_m": 0.215,
    "gamma_b": 1.0,
    "KC50": 2.24,
    "Kg": 0.008,
    "Kon": 7.103e4,
    "Koff": 2.385e-3,
    "AgCAR": 15000.0,
    "AgTumor": 12590.0,
    "TransC": 0.002,
    "Vb": 5.0,
    "Vbm": 3.65,
    "Tumor0": 2.5e9,
    "Km": 0.117,
    "Pm": 12.1,
    "Kb": 0.7,
    "Pb": 0.175,
}
assert len(DEFAULTS) == 25

# The parameters the paper estimated (gamma_b was fixed at 1).
ESTIMATED = ("Kexp_max", "EC50_exp", "Rm", "Kel_e", "Kel_m", "K12", "K21", "Kkill_max", "gamma_m")

# Magnitudes of the states, for a per-state absolute tolerance (atol = scale x TYPICAL): cells and complexes per L
# 1e6, tumour cells per L 1e9, M-protein 0.1 g/L, sBCMA 100 ng/mL.
TYPICAL = np.array([1e6, 1e6, 1e6, 1e6, 1e6, 1e9, 0.1, 100.0])


def params(**overrides):
    """The spec's values with `overrides` applied (unknown names are an error)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown singh2021_idecel parameter(s): {', '.join(sorted(unknown))}")
    p = dict(DEFAULTS)
    p.update({k: float(v) for k, v in overrides.items()})
    return p


def rate_constants(p):
    """kon in 1/(#/L)/day and koff in 1/day, from Kon (1/M/s) and Koff (1/s) as the spec converts them."""
    return p["Kon"] * SECONDS_PER_DAY / AVOGADRO, p["Koff"] * SECONDS_PER_DAY


def steady_biomarkers(p):
    """M-protein (g/L) and sBCMA (ng/mL) where their equations are at rest with Tumor = Tumor0."""
    mprot = p["Pm"] * 1e-12 * p["Tumor0"] / p["Km"]
    sbcma = p["Pb"] * 1e-6 * p["Tumor0"] / p["Kb"]
    return mprot, sbcma


def initial_state(p, dose_cells):
    mprot, sbcma = steady_biomarkers(p)
    return np.array([dose_cells, 0.0, 1e-6 * p["Vbm"], 0.0, 0.0, p["Tumor0"], mprot, sbcma])


def rhs(t, x, p):
    """The spec's right-hand side; x in STATES order."""
    Epb, Mpb, Et, Mt, Cplx, Tumor, Mprot, sBCMA = x
    kon, koff = rate_constants(p)
    conc = (Et + Mt) / p["Vbm"]
    car_free = conc * p["AgCAR"] - Cplx
    ag_free = Tumor * p["AgTumor"] - Cplx
    per_cart = Cplx / conc
    per_tumor = Cplx / Tumor
    kexp = p["Kexp_max"] * per_cart / (p["EC50_exp"] + per_cart)
    kkill = p["Kkill_max"] * per_tumor / (p["KC50"] + per_tumor)
    rel = Tumor / p["Tumor0"]
    return np.array([
        -p["K12"] * Epb + p["K21"] * Et - p["Kel_e"] * Epb,
        -p["K12"] * Mpb + p["K21"] * Mt - p["Kel_m"] * Mpb,
        p["K12"] * Epb - p["K21"] * Et + kexp * Et - p["Rm"] * Et,
        p["K12"] * Mpb - p["K21"] * Mt + p["Rm"] * Et,
        kon * car_free * ag_free - koff * Cplx,
        p["Kg"] * Tumor - kkill * Tumor,
        p["Pm"] * 1e-12 * p["Tumor0"] * rel ** p["gamma_m"] - p["Km"] * Mprot,
        p["Pb"] * 1e-6 * p["Tumor0"] * rel ** p["gamma_b"] - p["Kb"] * sBCMA,
    ])


def jacobian(t, x, p):
    """d(rhs)/dx, derived by hand from the equations above (for the implicit solvers)."""
    Epb, Mpb, Et, Mt, Cplx, Tumor, Mprot, sBCMA = x
    kon, koff = rate_constants(p)
    vbm = p["Vbm"]
    conc = (Et + Mt) / vbm
    car_free = conc * p["AgCAR"] - Cplx
    ag_free = Tumor * p["AgTumor"] - Cplx
    r = Cplx / conc                        # complexes per CAR-T cell
    s = Cplx / Tumor                       # complexes per tumour cell
    kexp = p["Kexp_max"] * r / (p["EC50_exp"] + r)
    dkexp_dr = p["Kexp_max"] * p["EC50_exp"] / (p["EC50_exp"] + r) ** 2
    dkkill_ds = p["Kkill_max"] * p["KC50"] / (p["KC50"] + s) ** 2
    kkill = p["Kkill_max"] * s / (p["KC50"] + s)
    # r = Cplx / conc: dr/dEt = dr/dMt = -Cplx / conc^2 / Vbm, dr/dCplx = 1 / conc
    dr_dcells = -Cplx / conc ** 2 / vbm
    dr_dcplx = 1.0 / conc
    ds_dcplx = 1.0 / Tumor
    ds_dtumor = -Cplx / Tumor ** 2
    rel = Tumor / p["Tumor0"]
    J = np.zeros((8, 8))
    J[0, 0] = -p["K12"] - p["Kel_e"]
    J[0, 2] = p["K21"]
    J[1, 1] = -p["K12"] - p["Kel_m"]
    J[1, 3] = p["K21"]
    J[2, 0] = p["K12"]
    J[2, 2] = -p["K21"] + kexp - p["Rm"] + Et * dkexp_dr * dr_dcells
    J[2, 3] = Et * dkexp_dr * dr_dcells
    J[2, 4] = Et * dkexp_dr * dr_dcplx
    J[3, 1] = p["K12"]
    J[3, 2] = p["Rm"]
    J[3, 3] = -p["K21"]
    J[4, 2] = kon * p["AgCAR"] / vbm * ag_free
    J[4, 3] = J[4, 2]
    J[4, 4] = -kon * (ag_free + car_free) - koff
    J[4, 5] = kon * car_free * p["AgTumor"]
    J[5, 4] = -Tumor * dkkill_ds * ds_dcplx
    J[5, 5] = p["Kg"] - kkill - Tumor * dkkill_ds * ds_dtumor
    J[6, 5] = p["Pm"] * 1e-12 * p["gamma_m"] * rel ** (p["gamma_m"] - 1.0)
    J[6, 6] = -p["Km"]
    J[7, 5] = p["Pb"] * 1e-6 * p["gamma_b"] * rel ** (p["gamma_b"] - 1.0)
    J[7, 7] = -p["Kb"]
    return J


def solve(times, p=None, dose_cells=None, rtol=1e-12, atol=None, method="Radau"):
    """States at `times` (ascending, >= 0) after `dose_cells` CAR+ cells into Epb at t = 0: (8, len(times)).

    dose_cells defaults to p["dose"]; atol defaults to 1e-12 x TYPICAL (a scalar or one value per state).
    Raises RuntimeError if the integrator fails.
    """
    p = DEFAULTS if p is None else p
    dose_cells = p["dose"] if dose_cells is None else float(dose_cells)
    atol = 1e-12 * TYPICAL if atol is None else atol
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times must be a non-empty ascending 1-D sequence of values >= 0")
    y0 = initial_state(p, dose_cells)
    t_end = float(times[-1])
    if t_end == 0.0:
        return np.repeat(y0[:, None], times.size, axis=1)
    sol = solve_ivp(rhs, (0.0, t_end), y0, method=method, t_eval=times, args=(p,), rtol=rtol, atol=atol,
                    jac=jacobian)
    if not sol.success:
        raise RuntimeError(f"solve_ivp({method}) failed: {sol.message}")
    return sol.y


def observables(y, p=None):
    """The spec's observables from states y (8, n): dict of arrays."""
    p = DEFAULTS if p is None else p
    return {
        "transgene": p["TransC"] * (y[0] + y[1]) / p["Vb"],
        "tumor": y[5],
        "mprotein": y[6],
        "sbcma": y[7],
    }
