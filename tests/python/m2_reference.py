#!/usr/bin/python3
"""Independent SciPy reference for model M2 `cart_cd19_bcma` (spec: shared/spec/models.md, section M2).

Written from the spec text alone (no code shared with, or read from, cartpk's C++ model), so agreement between
the two is a real check of the equations. States, in the spec's order:
    E, M, X, Q, Bm, B, R, Ps, Pl, A, Hb
Time is in days. Dosing convention of cartpk: one infusion at t = 0, entering as the initial state
    E(0) = fblood * dose_per_kg / vblood, B(0) = fld_b * b0, Bm(0) = fld_b, M = X = 0, Q = R = Ps = Pl = A = 1,
    Hb(0) = hb0.
The lymphodepletion surge is L(t) = ld * exp(-kld * t) with t measured from the infusion.

Use:
    import m2_reference as m2
    times, y = m2.solve([0, 1, 8, 90, 730])          # y: (11, len(times)) in STATES order
    obs = m2.observables(y)                            # dict flow, qpcr, bcell, plasma, autoab, hb
"""
import math

import numpy as np
from scipy.integrate import solve_ivp

STATES = ("E", "M", "X", "Q", "Bm", "B", "R", "Ps", "Pl", "A", "Hb")
OBSERVABLES = ("flow", "qpcr", "bcell", "plasma", "autoab", "hb")

# Defaults exactly as in the spec's table (names, values).
DEFAULTS = {
    "dose_per_kg": 1e6,
    "vblood": 7.0e4,
    "fblood": 0.02,
    "rho": 1.1,
    "rhoh": 0.45,
    "kld": 0.15,
    "ld": 1.0,
    "ks": 0.1,
    "ndiv": 12.0,
    "kem": 0.01,
    "kme": 0.02,
    "kex": 0.05,
    "dele": 0.16,
    "delm": 0.03,
    "delx": 0.3,
    "phim": 1.0,
    "ec50": 0.2,
    "kmax19": 0.6,
    "kmaxbc": 0.6,
    "arm19": 1.0,
    "armbc": 1.0,
    "b0": 150.0,
    "fld_b": 0.2,
    "kbm": 0.05,
    "kbin": 0.03,
    "kbout": 0.03,
    "kr": 0.0003,
    "kps": 0.2,
    "kpl": 0.005,
    "fpl": 0.5,
    "ka": 0.033,
    "hb0": 80.0,
    "krbc": 0.00833,
    "khem": 0.0154,
    "gam": 1.0,
    "kcp": 300.0,
}
assert len(DEFAULTS) == 36

# The spec's product presets (v2): which binders the product carries and which kill rates it has.
PRESETS = {
    "cd19-bcma": {"arm19": 1.0, "armbc": 1.0},
    "cd19": {"arm19": 1.0, "armbc": 0.0, "kmaxbc": 0.0},
    "bcma": {"arm19": 0.0, "armbc": 1.0, "kmax19": 0.0},
}


def params(**overrides):
    """The default parameters with `overrides` applied (unknown names are an error)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown M2 parameter(s): {', '.join(sorted(unknown))}")
    p = dict(DEFAULTS)
    p.update({k: float(v) for k, v in overrides.items()})
    return p


def initial_state(p):
    return np.array([
        p["fblood"] * p["dose_per_kg"] / p["vblood"],  # E
        0.0,                                            # M
        0.0,                                            # X
        1.0,                                            # Q
        p["fld_b"],                                     # Bm
        p["fld_b"] * p["b0"],                           # B
        1.0,                                            # R
        1.0,                                            # Ps
        1.0,                                            # Pl
        1.0,                                            # A
        p["hb0"],                                       # Hb
    ])


def rhs(t, x, p):
    """Right-hand side of the spec's M2 equations; x in STATES order, p a parameter dict."""
    E, M, X, Q, Bm, B, R, Ps, Pl, A, Hb = x
    b0 = p["b0"]
    # auxiliary quantities
    # antigen load seen by the product (spec v2): plasmablasts carry both antigens and count once
    a19, abc = p["arm19"], p["armbc"]
    T = a19 * B / b0 + (a19 + abc - a19 * abc) * Ps + abc * Pl
    S = T / (p["ks"] + T)
    L = p["ld"] * math.exp(-p["kld"] * t)
    g = (p["rho"] * S + p["rhoh"] * L) * Q
    active = E + p["phim"] * M
    K = active / (p["ec50"] + active)
    k19 = p["kmax19"] * K
    kbc = p["kmaxbc"] * K
    kprod = (p["krbc"] + p["khem"]) * p["hb0"]

    dE = g * E - (p["kem"] + p["kex"] * S + p["dele"]) * E + p["kme"] * S * M
    dM = p["kem"] * E - p["kme"] * S * M - p["delm"] * M
    dX = p["kex"] * S * E - p["delx"] * X
    dQ = -g * Q / (p["ndiv"] * math.log(2.0))
    dBm = p["kbm"] * (1.0 - Bm) - k19 * Bm
    dB = p["kbin"] * b0 * Bm - p["kbout"] * B - k19 * B
    dR = p["kr"] * (1.0 - R) * B / b0 - k19 * R
    dPs = p["kps"] * (B / b0) * R - p["kps"] * Ps - (k19 + kbc) * Ps
    dPl = p["kpl"] * Ps - p["kpl"] * Pl - kbc * Pl
    dA = p["ka"] * ((1.0 - p["fpl"]) * Ps + p["fpl"] * Pl) - p["ka"] * A
    dHb = kprod * (p["hb0"] / Hb) ** p["gam"] - (p["krbc"] + p["khem"] * A) * Hb
    return np.array([dE, dM, dX, dQ, dBm, dB, dR, dPs, dPl, dA, dHb])


def solve(times, p=None, rtol=1e-11, atol=1e-14, method="LSODA", max_step=np.inf):
    """States at `times` (ascending, >= 0) from the t = 0 initial state: array (11, len(times)).

    `atol` may be a scalar or one value per state. Raises RuntimeError if the integrator fails.
    """
    p = DEFAULTS if p is None else p
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times must be a non-empty ascending 1-D sequence of values >= 0")
    y0 = initial_state(p)
    t_end = float(times[-1])
    if t_end == 0.0:
        return np.repeat(y0[:, None], times.size, axis=1)
    sol = solve_ivp(rhs, (0.0, t_end), y0, method=method, t_eval=times, args=(p,), rtol=rtol, atol=atol,
                    max_step=max_step)
    if not sol.success:
        raise RuntimeError(f"solve_ivp({method}) failed: {sol.message}")
    return sol.y


def observables(y, p=None):
    """The spec's observables from states y (11, n): dict name -> array (n,)."""
    p = DEFAULTS if p is None else p
    E, M, X, Q, Bm, B, R, Ps, Pl, A, Hb = y
    flow = E + M + X
    return {"flow": flow, "qpcr": p["kcp"] * flow, "bcell": B, "plasma": Ps + Pl, "autoab": A, "hb": Hb}


if __name__ == "__main__":
    t = np.array([0, 1, 8, 53, 90, 134, 211, 730], dtype=float)
    obs = observables(solve(t))
    for i, ti in enumerate(t):
        print(f"day {ti:5g}: " + ", ".join(f"{k} {v[i]:.6g}" for k, v in obs.items()))
