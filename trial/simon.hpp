#pragma once
// Simon (1989) two-stage designs for one binary endpoint (response). Stage 1 treats n1 patients and stops if
// r1 or fewer respond; otherwise n - n1 more are treated, and the treatment is declared active if more than r
// of all n respond. Type I error at p0 and power at p1 are exact binomial sums (see docs/designs.md).
#include <optional>

namespace cartpk::trial {

struct SimonInputs {
  double p0 = 0.0;     // response rate of no interest (H0)
  double p1 = 0.0;     // response rate of interest (H1), p0 < p1
  double alpha = 0.0;  // bound on P(declared active | p0)
  double beta = 0.0;   // bound on P(not declared active | p1)
  int nmax = 100;      // largest total size searched
};

struct SimonDesign {
  int r1 = 0, n1 = 0, r = 0, n = 0;
  double en0 = 0.0;    // expected size under p0: n1 + (1 - pet0) (n - n1)
  double pet0 = 0.0;   // probability of stopping after stage 1 under p0
  double alpha = 0.0;  // attained P(declared active | p0)
  double power = 0.0;  // attained P(declared active | p1)
};

struct SimonResult {
  SimonDesign optimal;  // smallest en0 (ties: smaller n, n1, r1)
  SimonDesign minimax;  // smallest n (ties: smaller en0, then n1, r1)
};

// Exact search over 2 <= n <= nmax, 1 <= n1 < n, -1 <= r1 < n1 (-1: no stop after stage 1) and, for each
// (n, n1, r1), the smallest r in [max(r1, 0), min(n - n1 + r1, n - 1)] with type I error <= alpha (the most
// powerful such r), feasible when its power >= 1 - beta. nullopt when no design up to nmax is feasible.
// Preconditions (std::invalid_argument otherwise): 0 < p0 < p1 < 1, alpha and beta in (0, 1), 2 <= nmax <= 1000.
std::optional<SimonResult> simon_designs(const SimonInputs& inputs);

// Operating characteristics of a given design at response rates p0 and p1 (used by the search and the tests).
SimonDesign simon_evaluate(int r1, int n1, int r, int n, double p0, double p1);

}  // namespace cartpk::trial
