/* Right-hand sides for R deSolve's compiled-code interface (lsoda), the peer of `bench/run_bench.py --only solver`.
 * Written from ../shared/spec/models.md (M1 stein2019, M1b lag_expansion, M2 cart_cd19_bcma); the parameter
 * vector is in cartpk's table order (the driver passes cartpk's values). Built with R CMD SHLIB outside the timing.
 * Model events (growth start at tlag, the reset at tmax) are deSolve events handled by a compiled event function;
 * the discrete regime they switch lives in a file-scope variable, reset by the init function before each solve. */
#include <R.h>
#include <math.h>

/* ---------------------------------------------------------------- M2 cart_cd19_bcma (11 states, 36 parameters) */
static double m2[36];
enum { dose_per_kg, vblood, fblood, rho, rhoh, kld, ld, ks, ndiv, kem, kme, kex, dele, delm, delx, phim, ec50,
       kmax19, kmaxbc, arm19, armbc, b0, fld_b, kbm, kbin, kbout, kr, kps, kpl, fpl, ka, hb0, krbc, khem, gam,
       kcp };
enum { E, M, X, Q, Bm, B, R_, Ps, Pl, A, Hb };

void init_m2(void (*odeparms)(int *, double *)) {
  int n = 36;
  odeparms(&n, m2);
}

void rhs_m2(int *neq, double *t, double *x, double *f, double *yout, int *ip) {
  const double *p = m2;
  const double b_rel = x[B] / p[b0];
  const double seen = p[arm19] + p[armbc] - p[arm19] * p[armbc];
  const double antigen = p[arm19] * b_rel + seen * x[Ps] + p[armbc] * x[Pl];
  const double stimulus = antigen / (p[ks] + antigen);
  const double surge = p[ld] * exp(-p[kld] * *t);
  const double growth = (p[rho] * stimulus + p[rhoh] * surge) * x[Q];
  const double killers = x[E] + p[phim] * x[M];
  const double capacity = killers / (p[ec50] + killers);
  const double k19 = p[kmax19] * capacity, kbc = p[kmaxbc] * capacity;
  const double kprod = (p[krbc] + p[khem]) * p[hb0];
  f[E] = growth * x[E] - (p[kem] + p[kex] * stimulus + p[dele]) * x[E] + p[kme] * stimulus * x[M];
  f[M] = p[kem] * x[E] - p[kme] * stimulus * x[M] - p[delm] * x[M];
  f[X] = p[kex] * stimulus * x[E] - p[delx] * x[X];
  f[Q] = -growth * x[Q] / (p[ndiv] * M_LN2);
  f[Bm] = p[kbm] * (1.0 - x[Bm]) - k19 * x[Bm];
  f[B] = p[kbin] * p[b0] * x[Bm] - p[kbout] * x[B] - k19 * x[B];
  f[R_] = p[kr] * (1.0 - x[R_]) * b_rel - k19 * x[R_];
  f[Ps] = p[kps] * b_rel * x[R_] - p[kps] * x[Ps] - (k19 + kbc) * x[Ps];
  f[Pl] = p[kpl] * x[Ps] - p[kpl] * x[Pl] - kbc * x[Pl];
  f[A] = p[ka] * ((1.0 - p[fpl]) * x[Ps] + p[fpl] * x[Pl]) - p[ka] * x[A];
  f[Hb] = kprod * pow(p[hb0] / x[Hb], p[gam]) - (p[krbc] + p[khem] * x[A]) * x[Hb];
}

/* ------------------------------------------- M1 stein2019 / M1b lag_expansion (2 states, 7 or 8 parameters) */
static double m1[8];
static int m1_regime; /* 0: before tlag (flat), 1: growth, 2: after tmax (biphasic decline) */
enum { foldx, tmax, cmax, alpha, fb, beta, kcp1, tlag };

static void init_m1_common(void (*odeparms)(int *, double *), int n, int regime) {
  m1[tlag] = 0.0;
  odeparms(&n, m1);
  m1_regime = regime;
}
void init_stein(void (*odeparms)(int *, double *)) { init_m1_common(odeparms, 7, 1); }
void init_lag(void (*odeparms)(int *, double *)) { init_m1_common(odeparms, 8, 0); }

void rhs_m1(int *neq, double *t, double *x, double *f, double *yout, int *ip) {
  const double *p = m1;
  if (m1_regime == 2) {
    f[0] = -p[alpha] * x[0];
    f[1] = -p[beta] * x[1];
  } else {
    f[0] = m1_regime == 1 ? log(p[foldx]) / (p[tmax] - p[tlag]) * x[0] : 0.0;
    f[1] = 0.0;
  }
}

/* deSolve calls this at each event time: the growth start switches the right-hand side, the peak resets E, M. */
void event_m1(int *n, double *t, double *x) {
  const double *p = m1;
  if (m1_regime == 0 && p[tlag] < p[tmax] && fabs(*t - p[tlag]) < fabs(*t - p[tmax])) {
    m1_regime = 1;
    return;
  }
  m1_regime = 2;
  x[0] = (1.0 - p[fb]) * p[cmax];
  x[1] = p[fb] * p[cmax];
}
