#pragma once
// Bryant & Day (Biometrics 1995;51:1372-1383) two-stage designs on response and toxicity together. As in the
// paper, the toxicity endpoint is counted as patients WITHOUT toxicity, with probability pT; response (pR) and
// non-toxicity are independent. Stage 1 treats n1 patients and continues only if responses > cr1 AND
// non-toxicities > ct1; after all n the treatment is accepted if responses > cr AND non-toxicities > ct.
// Constraints: P(accept | r0, t1) <= alpha_r, P(accept | r1, t0) <= alpha_t, P(accept | r1, t1) >= power.
// Optimal: smallest max(E(N | r0, t1), E(N | r1, t0)), the paper's criterion (see docs/designs.md).
#include <optional>

namespace cartpk::trial {

struct BryantDayInputs {
  double r0 = 0.0, r1 = 0.0;  // response probability: unacceptable (H0) < acceptable (H1)
  double t0 = 0.0, t1 = 0.0;  // probability of NO toxicity: unacceptable (H0) < acceptable (H1)
  double alpha_r = 0.0;       // bound on P(accept | r0, t1)
  double alpha_t = 0.0;       // bound on P(accept | r1, t0)
  double power = 0.0;         // required P(accept | r1, t1)
  int nmin = 2, nmax = 60;    // total sizes searched
};

struct BryantDayDesign {
  int n1 = 0, n = 0;
  int cr1 = 0, ct1 = 0;  // stage 1: continue if responses > cr1 and non-toxicities > ct1 (-1: no rule)
  int cr = 0, ct = 0;    // end: accept if responses > cr and non-toxicities > ct
  double alpha_r = 0.0, alpha_t = 0.0, power = 0.0;  // attained
  double en_r0t1 = 0.0, en_r1t0 = 0.0, en_r0t0 = 0.0;  // expected sizes under the nulls
  [[nodiscard]] double criterion() const { return en_r0t1 > en_r1t0 ? en_r0t1 : en_r1t0; }
};

struct BryantDayResult {
  BryantDayDesign optimal;  // smallest criterion (ties: smaller n, n1, cr1, ct1)
  BryantDayDesign minimax;  // smallest n (ties: smaller criterion, then n1, cr1, ct1)
};

// Exact search over nmin <= n <= nmax, 1 <= n1 < n, -1 <= cr1, ct1 < n1, and final thresholds
// c1 <= c <= min(n - n1 + c1, n - 1) for each endpoint (larger ones are dominated by a stricter stage 1).
// For each stage-1 rule the final thresholds are the most powerful pair meeting both alpha bounds (ties:
// smaller cr, then smaller ct). nullopt when nothing up to nmax is feasible.
// Preconditions (std::invalid_argument otherwise): 0 < r0 < r1 < 1, 0 < t0 < t1 < 1, alpha_r, alpha_t and
// power in (0, 1), 2 <= nmin <= nmax <= kBryantDayMaxN.
inline constexpr int kBryantDayMaxN = 150;
std::optional<BryantDayResult> bryant_day_designs(const BryantDayInputs& inputs);

// Operating characteristics of a given design (independent endpoints), for reporting and tests.
BryantDayDesign bryant_day_evaluate(int n1, int n, int cr1, int ct1, int cr, int ct, const BryantDayInputs& rates);

}  // namespace cartpk::trial
