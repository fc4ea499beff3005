#!/usr/bin/env python3
"""The exact marginal -2LL of Wang (2007)'s one-compartment bolus data at the published fixed parameters, by
adaptive quadrature (SciPy), written from the model's equations independently of cartpk: ke = 0.5*exp(eta),
eta ~ N(0, 0.04), f = 10*exp(-ke*t), proportional error with sigma^2 = 0.1. Printed in NONMEM's convention
(without n*ln(2*pi)); tests/test_population_fit.cpp holds SAEM's importance sampling to it.

nlmixr2's adaptive Gauss-Hermite value for the same integral is 39.297, 0.058 lower: a few quadrature nodes do not
resolve it to that precision (the integrand is skewed in eta)."""
import numpy as np
from scipy import integrate

Y = [(10.68, 3.6837), (10.402, 6.454), (9.8814, 5.8565), (9.3408, 5.6209), (10.082, 6.7583),
     (9.8938, 6.5049), (9.8908, 6.9557), (10.234, 6.4488), (9.9882, 6.7112), (9.6736, 6.6402)]  # y at t = 0, 1
OMEGA2, SIGMA2 = 0.04, 0.1


def subject_likelihood(ys):
    def integrand(eta):
        ke = 0.5 * np.exp(eta)
        value = np.exp(-0.5 * eta * eta / OMEGA2) / np.sqrt(2 * np.pi * OMEGA2)
        for t, y in zip((0.0, 1.0), ys):
            f = 10.0 * np.exp(-ke * t)
            v = SIGMA2 * f * f
            value *= np.exp(-0.5 * (y - f) ** 2 / v) / np.sqrt(2 * np.pi * v)
        return value
    # ±10 SD of eta holds all the mass
    return integrate.quad(integrand, -10 * np.sqrt(OMEGA2), 10 * np.sqrt(OMEGA2), epsabs=0, epsrel=1e-12, limit=200)[0]


if __name__ == "__main__":
    minus2ll = sum(-2.0 * np.log(subject_likelihood(ys)) for ys in Y)
    print(f"{minus2ll - 2 * len(Y) * np.log(2 * np.pi):.4f}")  # 39.3548
