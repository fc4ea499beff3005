#!/usr/bin/python3
"""Independent NumPy/SciPy peers for the design benchmark: the searches a NumPy user would write.

  simon       Simon's optimal and minimax designs: for every (n, n1) a vectorised table of
              P(X1 > r1, X1 + X2 > r) from scipy.stats.binom (pmf x sf, reverse cumulative sum), then for every r1
              the smallest r with type I error <= alpha, feasible when its power >= 1 - beta.
  bryant-day  Bryant & Day's designs: for every (n, n1) the same tables for response (r0, r1) and non-toxicity
              (t0, t1); every (cr1, cr) x (ct1, ct) combination whose endpoint tables can reach the power is tested
              with one NumPy broadcast; optimal = smallest max(E(N | r0, t1), E(N | r1, t0)), minimax = smallest n.

Tie rules as documented in docs/designs.md (relative 1e-12; then smaller n, n1, stage-1 thresholds; per stage-1
rule the final thresholds of largest power, then smaller cr, ct). Timings cover the search only (after imports).

Usage:
  peer_designs.py simon P0 P1 ALPHA BETA NMAX
  peer_designs.py bryant-day R0 R1 T0 T1 ALPHA_R ALPHA_T POWER NMAX      (T0, T1: probabilities of NO toxicity)
Prints one JSON object: {"seconds": ..., "optimal": {...}, "minimax": {...}, "meta": {...}}.
This file is deliberately independent of cartpk and of tests/python (no shared code).
"""
import json
import platform
import sys
import time

import numpy as np
import scipy
from scipy.stats import binom

TIE = 1e-12


def accept_table(n1, n2, p):
    """A[c1 + 1, c] = P(X1 > c1, X1 + X2 > c) for -1 <= c1 < n1, 0 <= c < n1 + n2; and P(X1 > c1)."""
    x1 = np.arange(n1 + 1)
    c = np.arange(n1 + n2)
    terms = binom.pmf(x1, n1, p)[:, None] * binom.sf(c[None, :] - x1[:, None], n2, p)
    return np.cumsum(terms[::-1], axis=0)[::-1], binom.sf(np.arange(-1, n1), n1, p)


def better(value, key, best):
    """(value, key) beats best = (value, key) or None: smaller value by more than TIE, or a tie and smaller key."""
    if best is None:
        return True
    if value < best[0] - TIE * abs(best[0]):
        return True
    return value <= best[0] + TIE * abs(best[0]) and key < best[1]


def simon(p0, p1, alpha, beta, nmax):
    optimal = minimax = None
    for n in range(2, nmax + 1):
        best_n = None
        for n1 in range(1, n):
            n2 = n - n1
            a0, _ = accept_table(n1, n2, p0)
            a1, _ = accept_table(n1, n2, p1)
            for r1 in range(-1, n1):
                first, last = max(r1, 0), min(n2 + r1, n - 1)
                within = np.nonzero(a0[r1 + 1, first:last + 1] <= alpha)[0]
                if not len(within):
                    continue
                r = first + int(within[0])
                if a1[r1 + 1, r] < 1 - beta:
                    continue
                pet = float(binom.cdf(r1, n1, p0))
                d = dict(r1=r1, n1=n1, r=r, n=n, en0=n1 + (1 - pet) * n2, pet0=pet, alpha=float(a0[r1 + 1, r]),
                         power=float(a1[r1 + 1, r]))
                if better(d["en0"], (n1, r1), best_n):
                    best_n = (d["en0"], (n1, r1), d)
        if best_n:
            if minimax is None:
                minimax = best_n[2]
            if better(best_n[0], (n,), optimal):
                optimal = (best_n[0], (n,), best_n[2])
    return (optimal[2] if optimal else None), minimax


def bryant_day(r0, r1, t0, t1, alpha_r, alpha_t, power, nmax):
    optimal = minimax = None
    for n in range(2, nmax + 1):
        best_n = None
        for n1 in range(1, n):
            n2 = n - n1
            (ar0, cr0), (ar1, cr1) = accept_table(n1, n2, r0), accept_table(n1, n2, r1)
            (at0, ct0), (at1, ct1) = accept_table(n1, n2, t0), accept_table(n1, n2, t1)
            k = np.arange(n1 + 1)[:, None]
            c = np.arange(n)[None, :]
            valid = (c >= np.maximum(k - 1, 0)) & (c <= np.minimum(n2 + k - 1, n - 1))
            kr, cr = np.nonzero(valid & (ar1 >= power))
            kt, ct = np.nonzero(valid & (at1 >= power))
            if not len(kr) or not len(kt):
                continue
            a0, a1 = ar0[kr, cr][:, None], ar1[kr, cr][:, None]
            b0, b1 = at0[kt, ct][None, :], at1[kt, ct][None, :]
            ok = (a0 * b1 <= alpha_r) & (a1 * b0 <= alpha_t) & (a1 * b1 >= power)
            i, j = np.nonzero(ok)
            if not len(i):
                continue
            crit = n1 + n2 * np.maximum(cr0[kr[i]] * ct1[kt[j]], cr1[kr[i]] * ct0[kt[j]])
            pw = (a1 * b1)[i, j]
            # Smallest criterion, then smaller cr1, ct1, then largest power, then smaller cr, ct.
            order = np.lexsort((ct[j], cr[i], -pw, kt[j], kr[i], crit))
            lo = crit[order[0]]
            tied = [o for o in order if crit[o] <= lo + TIE * abs(lo)]
            first = min(tied, key=lambda o: (kr[i[o]], kt[j[o]]))
            stage1 = [o for o in tied if kr[i[o]] == kr[i[first]] and kt[j[o]] == kt[j[first]]]
            top = max(pw[o] for o in stage1)
            o = min((o for o in stage1 if pw[o] >= top - TIE * top), key=lambda o: (cr[i[o]], ct[j[o]]))
            d = dict(n1=n1, n=n, cr1=int(kr[i[o]]) - 1, ct1=int(kt[j[o]]) - 1, cr=int(cr[i[o]]), ct=int(ct[j[o]]),
                     power=float(pw[o]), en_max=float(crit[o]))
            if better(d["en_max"], (n1, d["cr1"], d["ct1"]), best_n):
                best_n = (d["en_max"], (n1, d["cr1"], d["ct1"]), d)
        if best_n:
            if minimax is None:
                minimax = best_n[2]
            if better(best_n[0], (n,), optimal):
                optimal = (best_n[0], (n,), best_n[2])
    return (optimal[2] if optimal else None), minimax


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("simon", "bryant-day"):
        sys.exit(__doc__)
    args = [float(a) for a in sys.argv[2:]]
    start = time.perf_counter()
    if sys.argv[1] == "simon":
        optimal, minimax = simon(*args[:4], int(args[4]))
    else:
        optimal, minimax = bryant_day(*args[:7], int(args[7]))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "optimal": optimal, "minimax": minimax,
                      "meta": {"python": platform.python_version(), "numpy": np.__version__,
                               "scipy": scipy.__version__}}))


if __name__ == "__main__":
    main()
