#!/usr/bin/python3
"""Independent SciPy reference for the published model P1 `hardiansyah2019` (spec: shared/spec/published-models.md).

Hardiansyah D, Ng CM. Quantitative systems pharmacology model of chimeric antigen receptor T-cell therapy.
Clin Transl Sci 2019;12(4):343-349; patient UPN3 of Kalos et al. 2011 (CLL).

Written from the spec text alone (no code shared with, or read from, cartpk's C++ model), so agreement between the
two is a real check of the equations. Units: cells in 1e9 cells, cytokines in pg/mL, time in days.
States, in the spec's order:
    B, CEpb, CEt, CMpb, CMt, IL6, IL10, IFNg
Before the first dose: B = B(0) (parameter b0), cytokines at their baselines, every CAR-T compartment 0. Doses
are jumps into CEpb: a dose of `fraction` of the total `dose` (cells) adds fraction * dose * 1e-9 (1e9 cells).
UPN3: 1.4e7 cells split 10 % / 30 % / 60 % on days 0, 1, 2 (UPN3_DOSES).

Use:
    import hardiansyah2019_reference as hr
    y = hr.solve([0, 1, 10, 30, 60])            # (8, n) in STATES order, UPN3 dosing, spec defaults
    obs = hr.observables(y)                       # dict bcell, cart_blood, il6, il10, ifng
"""
import numpy as np
from scipy.integrate import solve_ivp

STATES = ("B", "CEpb", "CEt", "CMpb", "CMt", "IL6", "IL10", "IFNg")
OBSERVABLES = ("bcell", "cart_blood", "il6", "il10", "ifng")

# The spec's values: fixed ones, UPN3's estimates, baselines and the dose.
DEFAULTS = {
    # fixed
    "kIL6": 3.96, "kIL10": 4.68, "kIFNg": 1.51,  # 1/day
    "aG": 0.59, "bG": 650.0,                      # -, pg/mL
    "rM": 0.0509, "dM": 0.408, "aM": 1.0,         # 1/day
    "kin": 76.78, "kout": 1.84,                   # 1/day
    "h": 1e5,                                     # 1e9 cells
    "rB": 0.0093, "dB": 0.0076,                   # 1/day
    # UPN3 estimates
    "pIL6": 0.006, "pIL10": 0.017, "pIFNg": 0.006,
    "rE": 14.40, "dE": 1.44, "aE": 0.12, "KBC": 2.21,
    # baselines
    "b0": 0.93, "bIL6": 1.0, "bIL10": 0.5, "bIFNg": 1.7,
    # dose: total CAR-T cells (UPN3)
    "dose": 1.4e7,
}
assert len(DEFAULTS) == 25

# The parameters the paper estimated for UPN3.
ESTIMATED = ("pIL6", "pIL10", "pIFNg", "rE", "dE", "aE", "KBC")

# UPN3's split dosing: (day, fraction of `dose`).
UPN3_DOSES = ((0.0, 0.1), (1.0, 0.3), (2.0, 0.6))


def params(**overrides):
    """The defaults with `overrides` applied (unknown names are an error)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown hardiansyah2019 parameter(s): {', '.join(sorted(unknown))}")
    p = dict(DEFAULTS)
    p.update({k: float(v) for k, v in overrides.items()})
    return p


def initial_state(p):
    return np.array([p["b0"], 0.0, 0.0, 0.0, 0.0, p["bIL6"], p["bIL10"], p["bIFNg"]])


def rhs(t, x, p):
    """The spec's equations, x in STATES order."""
    B, CEpb, CEt, CMpb, CMt, IL6, IL10, IFNg = x
    fB = B / (B + p["h"])
    # the aE term with CEpb (the spec's correction of the printed equation)
    e_to_m = p["aE"] * CEpb * (1.0 - fB)
    m_to_e = p["aM"] * CMpb * fB
    dB = p["rB"] * B - p["dB"] * B - p["KBC"] * CEpb * B
    dCEpb = p["rE"] * CEpb * B - p["dE"] * CEpb - p["kin"] * CEpb + p["kout"] * CEt - e_to_m + m_to_e
    dCEt = p["kin"] * CEpb - p["kout"] * CEt
    dCMpb = p["rM"] * CMpb - p["dM"] * CMpb - p["kin"] * CMpb + p["kout"] * CMt + e_to_m - m_to_e
    dCMt = p["kin"] * CMpb - p["kout"] * CMt
    stim = 1e6 * B * CEpb
    dIL6 = p["kIL6"] * p["bIL6"] + p["pIL6"] * stim - p["kIL6"] * IL6
    dIL10 = p["kIL10"] * p["bIL10"] + p["pIL10"] * stim - p["kIL10"] * IL10
    dIFNg = (p["kIFNg"] * p["bIFNg"] + p["pIFNg"] * stim * (p["aG"] + (1.0 - p["aG"]) * p["bG"] / (IL10 + p["bG"]))
             - p["kIFNg"] * IFNg)
    return np.array([dB, dCEpb, dCEt, dCMpb, dCMt, dIL6, dIL10, dIFNg])


def jacobian(t, x, p):
    """Analytic Jacobian of rhs (for the implicit integrators)."""
    B, CEpb, CEt, CMpb, CMt, IL6, IL10, IFNg = x
    h = p["h"]
    fB = B / (B + h)
    dfB = h / (B + h) ** 2
    J = np.zeros((8, 8))
    J[0, 0] = p["rB"] - p["dB"] - p["KBC"] * CEpb
    J[0, 1] = -p["KBC"] * B
    # CEpb
    J[1, 0] = p["rE"] * CEpb + p["aE"] * CEpb * dfB + p["aM"] * CMpb * dfB
    J[1, 1] = p["rE"] * B - p["dE"] - p["kin"] - p["aE"] * (1.0 - fB)
    J[1, 2] = p["kout"]
    J[1, 3] = p["aM"] * fB
    J[2, 1] = p["kin"]
    J[2, 2] = -p["kout"]
    # CMpb
    J[3, 0] = -p["aE"] * CEpb * dfB - p["aM"] * CMpb * dfB
    J[3, 1] = p["aE"] * (1.0 - fB)
    J[3, 3] = p["rM"] - p["dM"] - p["kin"] - p["aM"] * fB
    J[3, 4] = p["kout"]
    J[4, 3] = p["kin"]
    J[4, 4] = -p["kout"]
    # cytokines
    J[5, 0] = p["pIL6"] * 1e6 * CEpb
    J[5, 1] = p["pIL6"] * 1e6 * B
    J[5, 5] = -p["kIL6"]
    J[6, 0] = p["pIL10"] * 1e6 * CEpb
    J[6, 1] = p["pIL10"] * 1e6 * B
    J[6, 6] = -p["kIL10"]
    g = p["aG"] + (1.0 - p["aG"]) * p["bG"] / (IL10 + p["bG"])
    J[7, 0] = p["pIFNg"] * 1e6 * CEpb * g
    J[7, 1] = p["pIFNg"] * 1e6 * B * g
    J[7, 6] = -p["pIFNg"] * 1e6 * B * CEpb * (1.0 - p["aG"]) * p["bG"] / (IL10 + p["bG"]) ** 2
    J[7, 7] = -p["kIFNg"]
    return J


def solve(times, p=None, doses=UPN3_DOSES, rtol=1e-12, atol=1e-20, method="LSODA"):
    """States at `times` (ascending, >= 0): array (8, len(times)) in STATES order.

    `doses`: (day, fraction of p["dose"]) pairs, each a jump of fraction * dose * 1e-9 into CEpb. An output at a dose
    time reports the state after the dose (right-continuous). The integration restarts at every dose, so the
    integrator never steps across a jump. Raises RuntimeError if the integrator fails.
    """
    p = DEFAULTS if p is None else p
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times must be a non-empty ascending 1-D sequence of values >= 0")
    doses = sorted(doses)
    t_end = float(times[-1])
    jac = None if method == "LSODA" else jacobian  # solve_ivp passes args=(p,) to it too
    # segments [a, b) between dose times; a segment's doses apply at its start, the last one ends at t_end inclusive
    edges = sorted({0.0} | {float(d) for d, _ in doses if 0.0 < d < t_end}) + [t_end]
    out = np.empty((len(STATES), times.size))
    x = initial_state(p)
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        for d, fraction in doses:
            if d == a or (s == 0 and d < 0.0):
                x = x.copy()
                x[1] += fraction * p["dose"] * 1e-9
        last = s == len(edges) - 2
        idx = [i for i in range(times.size) if a <= times[i] < b or (last and times[i] == b)]
        if b > a:
            t_eval = sorted({float(times[i]) for i in idx} | {b})
            sol = solve_ivp(rhs, (a, b), x, method=method, t_eval=t_eval, args=(p,), rtol=rtol, atol=atol, jac=jac)
            if not sol.success:
                raise RuntimeError(f"solve_ivp({method}) failed: {sol.message}")
            for i in idx:
                out[:, i] = sol.y[:, t_eval.index(float(times[i]))]
            x = sol.y[:, -1]
        else:
            for i in idx:
                out[:, i] = x
    if t_end == 0.0:  # only t = 0 requested: the state after the day-0 doses
        out[:, :] = x[:, None]
    return out


def observables(y, p=None):
    """The spec's observables from states y (8, n): dict name -> array (n,)."""
    B, CEpb, CEt, CMpb, CMt, IL6, IL10, IFNg = y
    return {"bcell": B, "cart_blood": CEpb + CMpb, "il6": IL6, "il10": IL10, "ifng": IFNg}


if __name__ == "__main__":
    t = np.array([0, 1, 2, 3, 5, 7, 10, 14, 21, 28, 35, 45, 60], dtype=float)
    obs = observables(solve(t))
    for i, ti in enumerate(t):
        print(f"day {ti:5g}: " + ", ".join(f"{k} {v[i]:.6g}" for k, v in obs.items()))
