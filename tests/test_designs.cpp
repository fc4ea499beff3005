// Two-stage trial designs (trial/): binomial tables against exact rational values, Simon designs against the
// published tables, Bryant-Day against the paper's worked example, and the joint response/toxicity model and
// `design evaluate` against closed forms and limiting cases.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "trial/binomial.hpp"
#include "trial/bryant_day.hpp"
#include "trial/design_evaluate.hpp"
#include "trial/joint_outcomes.hpp"
#include "trial/simon.hpp"

using namespace cartpk::trial;

namespace {
double choose(int n, int k) {  // exact for the small n used here
  double c = 1.0;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

// P(Bin(n, p) >= k) by a direct sum of C(n, j) p^j (1-p)^(n-j).
double tail_at_least(int n, double p, int k) {
  double total = 0.0;
  for (int j = std::max(k, 0); j <= n; ++j) total += choose(n, j) * std::pow(p, j) * std::pow(1.0 - p, n - j);
  return total;
}

struct Published {
  double p0, p1, alpha, beta;
  int r1, n1, r, n;
  double en0, pet0;  // as printed: EN to 0.1, PET to 0.01
};

void check_printed(const SimonDesign& d, const Published& want) {
  CHECK(d.r1 == want.r1);
  CHECK(d.n1 == want.n1);
  CHECK(d.r == want.r);
  CHECK(d.n == want.n);
  CHECK(std::abs(d.en0 - want.en0) <= 0.05);
  CHECK(std::abs(d.pet0 - want.pet0) <= 0.005);
  CHECK(d.alpha <= want.alpha);
  CHECK(d.power >= 1.0 - want.beta);
}
}  // namespace

TEST_CASE("binomial tables equal exact rational probabilities (p = 1/4, n <= 20) and sum to one") {
  // With p = 1/4, P(X = k) = C(n, k) 3^(n-k) / 4^n exactly, and for n <= 20 the numerator is an integer below
  // 2^53, so the reference is the exact value rounded once.
  const BinomialTable b(0.25, 100);
  for (int n = 0; n <= 20; ++n) {
    double cdf = 0.0;
    for (int k = 0; k <= n; ++k) {
      const double exact = choose(n, k) * std::pow(3.0, n - k) / std::pow(4.0, n);
      CHECK(std::abs(b.pmf(n, k) - exact) <= 1e-16);
      cdf += exact;
      CHECK(std::abs(b.cdf(n, k) - cdf) <= 2e-16 * (k + 1));
      CHECK(std::abs(b.sf(n, k) - (1.0 - cdf)) <= 2e-16 * (n + 1));
    }
  }
  for (int n = 0; n <= 100; ++n) {
    CHECK(b.cdf(n, -1) == 0.0);
    CHECK(b.sf(n, n) == 0.0);
    CHECK(b.cdf(n, n) == 1.0);
    CHECK(std::abs(b.cdf(n, n / 2) + b.sf(n, n / 2) - 1.0) <= 1e-14);
  }
}

TEST_CASE("Simon designs reproduce the published tables of Simon (1989) to the printed digits") {
  // Simon R. Optimal two-stage designs for phase II clinical trials. Controlled Clinical Trials 1989;10:1-10,
  // Table 1 (p1 - p0 = 0.20): columns r1/n1, r/n, EN(p0), PET(p0) for the optimal and the minimax design.
  // Each row was also confirmed by an independent brute-force search (scipy.stats.binom) before it was written
  // here; tests/python/test_designs_reference.py repeats that comparison on a wider grid.
  const std::vector<std::pair<Published, Published>> table = {
      // {optimal}, {minimax}
      {{0.05, 0.25, 0.05, 0.20, 0, 9, 2, 17, 12.0, 0.63}, {0.05, 0.25, 0.05, 0.20, 0, 12, 2, 16, 13.8, 0.54}},
      {{0.05, 0.25, 0.05, 0.10, 0, 9, 3, 30, 16.8, 0.63}, {0.05, 0.25, 0.05, 0.10, 0, 15, 3, 25, 20.4, 0.46}},
      {{0.05, 0.25, 0.10, 0.10, 0, 9, 2, 24, 14.5, 0.63}, {0.05, 0.25, 0.10, 0.10, 0, 13, 2, 20, 16.4, 0.51}},
      {{0.10, 0.30, 0.05, 0.20, 1, 10, 5, 29, 15.0, 0.74}, {0.10, 0.30, 0.05, 0.20, 1, 15, 5, 25, 19.5, 0.55}},
      {{0.10, 0.30, 0.05, 0.10, 2, 18, 6, 35, 22.5, 0.73}, {0.10, 0.30, 0.05, 0.10, 2, 22, 6, 33, 26.2, 0.62}},
      {{0.20, 0.40, 0.10, 0.10, 3, 17, 10, 37, 26.0, 0.55}, {0.20, 0.40, 0.10, 0.10, 3, 19, 10, 36, 28.3, 0.46}},
      {{0.20, 0.40, 0.05, 0.20, 3, 13, 12, 43, 20.6, 0.75}, {0.20, 0.40, 0.05, 0.20, 4, 18, 10, 33, 22.3, 0.72}},
      {{0.20, 0.40, 0.05, 0.10, 4, 19, 15, 54, 30.4, 0.67}, {0.20, 0.40, 0.05, 0.10, 5, 24, 13, 45, 31.2, 0.66}},
      {{0.30, 0.50, 0.05, 0.20, 5, 15, 18, 46, 23.6, 0.72}, {0.30, 0.50, 0.05, 0.20, 6, 19, 16, 39, 25.7, 0.67}},
      {{0.30, 0.50, 0.10, 0.10, 7, 22, 17, 46, 29.9, 0.67}, {0.30, 0.50, 0.10, 0.10, 7, 28, 15, 39, 35.0, 0.36}},
  };
  for (const auto& [optimal, minimax] : table) {
    CAPTURE(optimal.p0);
    CAPTURE(optimal.p1);
    CAPTURE(optimal.alpha);
    CAPTURE(optimal.beta);
    const auto result = simon_designs({optimal.p0, optimal.p1, optimal.alpha, optimal.beta, 100});
    REQUIRE(result.has_value());
    check_printed(result->optimal, optimal);
    check_printed(result->minimax, minimax);
  }
}

TEST_CASE("Simon designs match clinfun::ph2simon's documented output, including the effect of nmax") {
  // clinfun (R) manual, ph2simon examples: ph2simon(0.2, 0.35, 0.05, 0.05) prints
  //   Minimax 15 68 25  95 75.44 0.7244;  Optimal 11 53 26  99 69.88 0.6330  (nmax = 100)
  // and with nmax = 150 the optimal design becomes 11 50 28 109 67.07 0.7107.
  const auto at100 = simon_designs({0.2, 0.35, 0.05, 0.05, 100});
  REQUIRE(at100.has_value());
  check_printed(at100->minimax, {0.2, 0.35, 0.05, 0.05, 15, 68, 25, 95, 75.44, 0.7244});
  check_printed(at100->optimal, {0.2, 0.35, 0.05, 0.05, 11, 53, 26, 99, 69.88, 0.6330});
  CHECK(std::abs(at100->minimax.en0 - 75.44) <= 0.005);
  CHECK(std::abs(at100->optimal.pet0 - 0.6330) <= 0.00005);
  const auto at150 = simon_designs({0.2, 0.35, 0.05, 0.05, 150});
  REQUIRE(at150.has_value());
  check_printed(at150->optimal, {0.2, 0.35, 0.05, 0.05, 11, 50, 28, 109, 67.07, 0.7107});
  CHECK(std::abs(at150->optimal.en0 - 67.07) <= 0.005);
}

TEST_CASE("Simon: no design below the minimax size, and the attained error rates are the exact sums") {
  CHECK_FALSE(simon_designs({0.2, 0.4, 0.1, 0.1, 35}).has_value());  // minimax n is 36
  CHECK(simon_designs({0.2, 0.4, 0.1, 0.1, 36})->minimax.n == 36);
  // 0/9, 2/17 at p0 = 0.05: alpha = sum_{x1>=1} P(X1 = x1) P(X2 >= 3 - x1), written out with binomials.
  const auto d = simon_evaluate(0, 9, 2, 17, 0.05, 0.25);
  double alpha = 0.0;
  for (int x1 = 1; x1 <= 9; ++x1)
    alpha += choose(9, x1) * std::pow(0.05, x1) * std::pow(0.95, 9 - x1) * tail_at_least(8, 0.05, 3 - x1);
  CHECK(d.alpha == doctest::Approx(alpha).epsilon(1e-13));
  CHECK(d.pet0 == doctest::Approx(std::pow(0.95, 9)).epsilon(1e-14));
}

TEST_CASE("Bryant-Day reproduces the worked example of the paper and uses the max(E(N)) criterion") {
  // Bryant J, Day R. Biometrics 1995;51:1372-1383, the example on p. 1379 (as quoted in public code that
  // re-analyses it): pR0 0.3, pR1 0.5, pT0 0.6, pT1 0.8 (probabilities of NO toxicity), N1 = 19, N = 33,
  // CR1 = 5, CT1 = 11, CR = 12, CT = 22. The error levels are not in that quote; with alpha_R = alpha_T = 0.15
  // and power 0.85 our search returns exactly this design (and with E(N | r0, t0) as the criterion it would not:
  // see docs/designs.md).
  BryantDayInputs in{0.3, 0.5, 0.6, 0.8, 0.15, 0.15, 0.85, 2, 45};
  const auto result = bryant_day_designs(in);
  REQUIRE(result.has_value());
  for (const auto* d : {&result->optimal, &result->minimax}) {
    CHECK(d->n1 == 19);
    CHECK(d->n == 33);
    CHECK(d->cr1 == 5);
    CHECK(d->ct1 == 11);
    CHECK(d->cr == 12);
    CHECK(d->ct == 22);
    CHECK(d->alpha_r <= 0.15);
    CHECK(d->alpha_t <= 0.15);
    CHECK(d->power >= 0.85);
  }
  // Expected sizes: n1 + n2 P(continue), with independent endpoints.
  const double cont_r0 = 1.0 - (1.0 - tail_at_least(19, 0.3, 6)), cont_t1 = tail_at_least(19, 0.8, 12);
  CHECK(result->optimal.en_r0t1 == doctest::Approx(19 + 14 * cont_r0 * cont_t1).epsilon(1e-13));
  CHECK(result->optimal.criterion() == std::max(result->optimal.en_r0t1, result->optimal.en_r1t0));
  CHECK_FALSE(bryant_day_designs({0.3, 0.5, 0.6, 0.8, 0.15, 0.15, 0.85, 2, 32}).has_value());
}

TEST_CASE("joint response/toxicity cells keep the marginals and the odds ratio, and the exact boundaries") {
  for (double pr : {0.05, 0.3, 0.5, 0.9})
    for (double pt : {0.1, 0.5, 0.8})
      for (double psi : {0.05, 0.5, 1.0, 2.0, 30.0}) {
        const auto c = joint_cells(pr, pt, psi);
        CHECK(c.p11 + c.p10 == doctest::Approx(pr).epsilon(1e-14));
        CHECK(c.p11 + c.p01 == doctest::Approx(pt).epsilon(1e-14));
        CHECK(c.p11 + c.p10 + c.p01 + c.p00 == doctest::Approx(1.0).epsilon(1e-14));
        CHECK(c.p11 * c.p00 / (c.p10 * c.p01) == doctest::Approx(psi).epsilon(1e-10));
      }
  const auto sure_response = joint_cells(1.0, 0.3, 4.0);
  CHECK(sure_response.p00 == 0.0);
  CHECK(sure_response.p01 == 0.0);
  CHECK(sure_response.p11 == 0.3);
  const auto no_toxicity = joint_cells(0.4, 0.0, 0.2);
  CHECK(no_toxicity.p11 == 0.0);
  CHECK(no_toxicity.p01 == 0.0);
}

TEST_CASE("design evaluate: the registered trial against closed forms and the limiting cases") {
  ToxicityStopDesign d{8, 24, 5, 4, RespondersFrom::stage2, std::nullopt};
  for (double pr : {0.05, 0.2, 0.45})
    for (double pt : {0.1, 0.5, 0.8}) {
      // Independent endpoints, responders from stage 2, no final toxicity rule: the stages separate.
      const auto oc = evaluate_design(d, pr, pt, 1.0);
      const double stop = tail_at_least(8, pt, 6);
      CHECK(oc.p_stop_stage1 == doctest::Approx(stop).epsilon(1e-13));
      CHECK(oc.p_success == doctest::Approx((1.0 - stop) * tail_at_least(16, pr, 4)).epsilon(1e-12));
      CHECK(oc.expected_n == doctest::Approx(8 + 16 * (1.0 - stop)).epsilon(1e-14));
      CHECK(oc.expected_toxicities == doctest::Approx(pt * (8 + 16 * (1.0 - stop))).epsilon(1e-14));
    }
  for (auto from : {RespondersFrom::all, RespondersFrom::stage2})
    for (double psi : {0.2, 1.0, 5.0}) {
      d.responders_from = from;
      const auto never_toxic = evaluate_design(d, 0.3, 0.0, psi);
      CHECK(never_toxic.p_stop_stage1 == 0.0);
      CHECK(never_toxic.expected_n == 24.0);
      CHECK(never_toxic.expected_toxicities == 0.0);
      const auto always_responds = evaluate_design(d, 1.0, 0.7, psi);
      CHECK(always_responds.p_success == doctest::Approx(1.0 - always_responds.p_stop_stage1).epsilon(1e-14));
    }
  d.max_tox_final = 0;  // no toxicity at all allowed: success = P(no toxicity in 24) P(enough responders | none)
  const auto strict = evaluate_design(d, 0.5, 0.1, 1.0);
  CHECK(strict.p_success == doctest::Approx(std::pow(0.9, 24) * tail_at_least(16, 0.5, 4)).epsilon(1e-12));
}
