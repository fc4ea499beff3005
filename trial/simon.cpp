#include "trial/simon.hpp"

#include <algorithm>
#include <stdexcept>

#include "trial/binomial.hpp"
#include "trial/design_ties.hpp"
#include "trial/stage_tables.hpp"

namespace cartpk::trial {

namespace {
void check(const SimonInputs& in) {
  if (!(in.p0 > 0.0 && in.p0 < in.p1 && in.p1 < 1.0) || !(in.alpha > 0.0 && in.alpha < 1.0) ||
      !(in.beta > 0.0 && in.beta < 1.0) || in.nmax < 2 || in.nmax > 1000)
    throw std::invalid_argument("simon_designs: inputs outside their domain");
}

SimonDesign make_design(int r1, int n1, int r, int n, double pet0, double alpha, double power) {
  return {r1, n1, r, n, n1 + (1.0 - pet0) * (n - n1), pet0, alpha, power};
}
}  // namespace

SimonDesign simon_evaluate(int r1, int n1, int r, int n, double p0, double p1) {
  const BinomialTable b0(p0, n), b1(p1, n);
  return make_design(r1, n1, r, n, b0.cdf(n1, r1), pass_probability(b0, n1, n - n1, r1, r),
                     pass_probability(b1, n1, n - n1, r1, r));
}

std::optional<SimonResult> simon_designs(const SimonInputs& in) {
  check(in);
  const BinomialTable b0(in.p0, in.nmax), b1(in.p1, in.nmax);
  const double min_power = 1.0 - in.beta;
  std::optional<SimonDesign> optimal, minimax;
  for (int n = 2; n <= in.nmax; ++n) {
    for (int n1 = 1; n1 < n; ++n1) {
      // en0 >= n1: once a design is known, larger first stages cannot beat it.
      if (optimal && clearly_less(optimal->en0, n1)) break;
      const int n2 = n - n1;
      const StagePassTable t0(b0, n1, n2);
      for (int r1 = -1; r1 < n1; ++r1) {
        const double pet0 = b0.cdf(n1, r1);
        const double en0 = n1 + (1.0 - pet0) * n2;
        if (optimal && !clearly_less(en0, optimal->en0)) continue;  // ties go to the earlier (smaller) design
        // The type I error falls as r rises: the first r within alpha is the most powerful one.
        int r = std::max(r1, 0);
        const int r_last = std::min(n2 + r1, n - 1);
        while (r <= r_last && t0.pass(r1, r) > in.alpha) ++r;
        if (r > r_last) continue;
        const double power = pass_probability(b1, n1, n2, r1, r);
        if (power < min_power) continue;
        optimal = make_design(r1, n1, r, n, pet0, t0.pass(r1, r), power);
      }
    }
    // The first n with a feasible design: the best design at this n is the minimax one (the optimal so far).
    if (optimal && !minimax) minimax = optimal;
  }
  if (!optimal) return std::nullopt;
  return SimonResult{*optimal, *minimax};
}

}  // namespace cartpk::trial
