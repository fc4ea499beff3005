// Model-based virtual trials (trial/response_rules, trial/virtual_trial, io/trial_design_file): rules and links
// against their definitions, sampling without replacement against its inclusion probabilities, replicates against
// the exact operating characteristics (trial/design_evaluate) where response and toxicity are independent
// Bernoulli events, thread-count independence, and design-file errors naming file, line and key.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "io/trial_design_file.hpp"
#include "pkmodel/errors.hpp"
#include "trial/virtual_trial.hpp"

using namespace cartpk;
using namespace cartpk::trial;

namespace {
ToxicityStopDesign registered_trial() {
  ToxicityStopDesign d;
  d.n1 = 8;
  d.n = 24;
  d.max_tox_stage1 = 5;
  d.min_responders = 4;
  return d;
}

// A pool of n patients: the first `responders` respond, every one has toxicity probability p.
TrialPool pool_of(std::size_t n, std::size_t responders, double p) {
  TrialPool pool;
  for (std::size_t i = 0; i < n; ++i) {
    pool.responds.push_back(i < responders ? 1 : 0);
    pool.p_tox.push_back(p);
  }
  return pool;
}

std::string error_of(const std::string& text) {
  try {
    (void)io::parse_trial_design_text(text, "d.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const std::string kDesign = "[design]\nn1 = 8\nn = 24\nmax_tox_stage1 = 5\nmin_responders = 4\nresponders_from = \"all\"\n";
}  // namespace

TEST_CASE("response rules: all/any combinations, comparisons, NaN never meets a condition") {
  const std::vector<std::string> columns{"a", "b", "c"};
  ResponseRule rule;
  rule.conditions = {{"a", Comparison::greater_equal, 20.0, ""}, {"b", Comparison::less, 5.0, ""}};
  ToxicityLink fixed;
  fixed.kind = ToxicityLink::Kind::fixed;
  fixed.probability = 0.25;
  rule.combine = Combine::any;
  const OutcomeModel any(rule, fixed, columns);
  rule.combine = Combine::all;
  const OutcomeModel all(rule, fixed, columns);
  const double nan = std::nan("");
  const std::vector<std::vector<double>> rows = {{20, 5, 0}, {19.9, 4.9, 0}, {25, 1, 0}, {1, 9, 0}, {nan, 1, 0}, {nan, nan, 0}};
  const bool want_any[] = {true, true, true, false, true, false};
  const bool want_all[] = {false, false, true, false, false, false};
  for (std::size_t k = 0; k < rows.size(); ++k) {
    CHECK(any.responds(rows[k]) == want_any[k]);
    CHECK(all.responds(rows[k]) == want_all[k]);
    CHECK(any.toxicity_probability(rows[k]) == 0.25);
  }
  CHECK(compare(1.0, Comparison::less_equal, 1.0));
  CHECK_FALSE(compare(1.0, Comparison::greater, 1.0));
  CHECK(parse_comparison(">=") == Comparison::greater_equal);
  CHECK_FALSE(parse_comparison("=>").has_value());
  CHECK(describe(default_response_rule("90")) == "hb_change_day90 >= 20 or hb_day90 >= 100");
}

TEST_CASE("logistic toxicity link equals its formula; limits at metric <= 0 and NaN") {
  const std::vector<std::string> columns{"flow_cmax"};
  ResponseRule rule;
  rule.conditions = {{"flow_cmax", Comparison::greater, 0.0, ""}};
  const OutcomeModel m(rule, default_toxicity_link(), columns);
  for (double cmax : {1e-3, 0.5, 1.0, 13.7, 250.0, 1e6}) {
    const double z = kDefaultToxIntercept + kDefaultToxSlope * std::log10(cmax);
    CHECK(std::abs(m.toxicity_probability(std::vector<double>{cmax}) - 1.0 / (1.0 + std::exp(-z))) <= 1e-15);
  }
  CHECK(m.toxicity_probability(std::vector<double>{0.0}) == 0.0);
  CHECK(std::isnan(m.toxicity_probability(std::vector<double>{std::nan("")})));
  ToxicityLink negative = default_toxicity_link();
  negative.slope = -1.0;
  CHECK(OutcomeModel(rule, negative, columns).toxicity_probability(std::vector<double>{0.0}) == 1.0);
  CHECK_THROWS_AS(OutcomeModel(rule, default_toxicity_link(), {"qpcr_cmax"}), std::invalid_argument);
}

TEST_CASE("the pool: failed patients and a NaN link metric are excluded and counted; the association by hand") {
  ResponseRule rule;
  rule.conditions = {{"r", Comparison::greater, 0.5, ""}};
  ToxicityLink link = default_toxicity_link();
  link.metric = "x";
  link.intercept = 0.0;
  link.slope = 1.0;
  const OutcomeModel m(rule, link, {"r", "x"});
  // Rows (r, x): two responders, two non-responders, one failed patient, one with x NaN.
  const std::vector<double> rows = {1, 1, 1, 3, 0, 0.25, 0, 1, 1, 1, 1, std::nan("")};
  const std::vector<long> status = {0, 0, 0, 0, 1, 0};
  const auto pool = make_pool(m, rows, 2, status);
  REQUIRE(pool.size() == 4);
  CHECK(pool.excluded_failed == 1);
  CHECK(pool.excluded_not_evaluable == 1);
  const auto s = summarize_pool(pool);
  const double p[] = {pool.p_tox[0], pool.p_tox[1], pool.p_tox[2], pool.p_tox[3]};
  CHECK(s.p_resp == 0.5);
  CHECK(std::abs(s.mean_p_tox_responders - (p[0] + p[1]) / 2) <= 1e-15);
  CHECK(std::abs(s.mean_p_tox_nonresponders - (p[2] + p[3]) / 2) <= 1e-15);
  const double p11 = (p[0] + p[1]) / 4, p10 = (2 - p[0] - p[1]) / 4, p01 = (p[2] + p[3]) / 4,
               p00 = (2 - p[2] - p[3]) / 4;
  CHECK(std::abs(s.odds_ratio - p11 * p00 / (p10 * p01)) <= 1e-12);
  // The exact OC at the pool's cells equals evaluate_design at its marginals and odds ratio.
  const auto exact = exact_comparison(registered_trial(), s);
  const auto direct = evaluate_design(registered_trial(), s.p_resp, s.mean_p_tox, s.odds_ratio);
  CHECK(std::abs(exact.associated.p_success - direct.p_success) <= 1e-12);
  CHECK(std::abs(exact.associated.p_stop_stage1 - direct.p_stop_stage1) <= 1e-12);
}

TEST_CASE("replicates draw without replacement: a pool of exactly n enrols everyone; inclusion probability n/N") {
  const auto d = registered_trial();
  const auto full = pool_of(24, 7, 0.0);
  for (std::uint64_t r = 0; r < 200; ++r) {
    const auto o = run_replicate(d, full, 5, 0, r);
    CHECK(o.treated == 24);
    CHECK(o.responders == 7);  // every patient exactly once
    CHECK(o.toxicities == 0);
    CHECK(o.success);
  }
  // One responder among N = 30: it is enrolled with probability 24/30 when the trial runs to the end, and within
  // stage 1 (p_tox = 1 stops every trial after 8) with probability 8/30.
  const std::uint64_t R = 20000;
  for (const auto& [p_tox, expected] : {std::pair{0.0, 24.0 / 30.0}, std::pair{1.0, 8.0 / 30.0}}) {
    std::uint64_t included = 0;
    for (std::uint64_t r = 0; r < R; ++r) included += static_cast<std::uint64_t>(run_replicate(d, pool_of(30, 1, p_tox), 9, 0, r).responders);
    const double se = std::sqrt(expected * (1 - expected) / static_cast<double>(R));
    CHECK(std::abs(static_cast<double>(included) / static_cast<double>(R) - expected) < 4 * se);
  }
}

TEST_CASE("independent Bernoulli response and toxicity: simulated operating characteristics match the exact ones") {
  // A large pool (sampling without replacement is then practically with replacement): 30 % responders, every
  // patient toxic with probability 0.45, so response and toxicity are independent with known rates.
  for (auto from : {RespondersFrom::all, RespondersFrom::stage2}) {
    auto d = registered_trial();
    d.responders_from = from;
    const std::vector<TrialPool> pools = {pool_of(200000, 60000, 0.45)};
    const std::uint64_t R = 40000;
    const auto tally = simulate_trials(d, pools, 17, R, {2, nullptr});
    const auto sim = estimate(d, tally.front());
    const auto exact = evaluate_design(d, 0.3, 0.45, 1.0);
    CHECK(std::abs(sim.p_stop_stage1.value - exact.p_stop_stage1) < 4 * sim.p_stop_stage1.se);
    CHECK(std::abs(sim.p_success.value - exact.p_success) < 4 * sim.p_success.se);
    CHECK(std::abs(sim.expected_n.value - exact.expected_n) < 4 * sim.expected_n.se);
    CHECK(std::abs(sim.mean_toxicities.value - exact.expected_toxicities) < 4 * sim.mean_toxicities.se);
    CHECK(std::abs(sim.mean_responders.value - 0.3 * exact.expected_n) < 4 * sim.mean_responders.se);
    // The pool's summary sees the same rates and no association.
    const auto s = summarize_pool(pools.front());
    CHECK(s.p_resp == 0.3);
    CHECK(std::abs(s.odds_ratio - 1.0) < 1e-9);
  }
}

TEST_CASE("virtual trials do not depend on the thread count") {
  const auto d = registered_trial();
  TrialPool varied;
  for (int i = 0; i < 500; ++i) {
    varied.responds.push_back(i % 3 == 0 ? 1 : 0);
    varied.p_tox.push_back(0.1 + 0.8 * (i % 7) / 6.0);
  }
  const std::vector<TrialPool> pools = {varied, pool_of(100, 20, 0.6)};
  const auto one = simulate_trials(d, pools, 3, 3000, {1, nullptr});
  const auto three = simulate_trials(d, pools, 3, 3000, {3, nullptr});
  for (std::size_t s = 0; s < pools.size(); ++s) {
    CHECK(one[s].replicates == 3000);
    CHECK(one[s].stopped_stage1 == three[s].stopped_stage1);
    CHECK(one[s].successes == three[s].successes);
    CHECK(one[s].responders == three[s].responders);
    CHECK(one[s].toxicities == three[s].toxicities);
  }
  CHECK(one[0].successes != one[1].successes);  // the scenarios draw from their own streams
}

TEST_CASE("design file: the registered trial reads; defaults for response and toxicity") {
  const auto f = io::parse_trial_design_text(kDesign, "d.toml");
  CHECK(f.design.n1 == 8);
  CHECK(f.design.n == 24);
  CHECK(f.design.max_tox_stage1 == 5);
  CHECK(f.design.min_responders == 4);
  CHECK(f.design.responders_from == RespondersFrom::all);
  CHECK_FALSE(f.design.max_tox_final.has_value());
  CHECK_FALSE(f.response.has_value());
  CHECK_FALSE(f.toxicity.has_value());
  const auto g = io::parse_trial_design_text(
      kDesign + "max_tox_final = 12\n[response]\ncombine = \"all\"\n[[response.condition]]\nmetric = \"qpcr_cmax\"\n"
                "comparison = \">\"\nthreshold = 1e3\n[toxicity]\nprobability = 0.3\n",
      "d.toml");
  CHECK(g.design.max_tox_final == 12);
  REQUIRE(g.response.has_value());
  CHECK(g.response->combine == Combine::all);
  REQUIRE(g.response->conditions.size() == 1);
  CHECK(g.response->conditions[0].threshold == 1000.0);
  CHECK(g.response->conditions[0].where == "d.toml:11: key response.condition.metric");
  REQUIRE(g.toxicity.has_value());
  CHECK(g.toxicity->kind == ToxicityLink::Kind::fixed);
  CHECK(g.toxicity->probability == 0.3);
}

TEST_CASE("design file errors name the file, line and key and say what was expected") {
  struct Case {
    std::string text, want;
  };
  const std::vector<Case> cases = {
      {"[design]\nn1 = 8\nn = 8\nmax_tox_stage1 = 5\nmin_responders = 4\nresponders_from = \"all\"\n", "d.toml:2: key design.n1"},
      {kDesign + "[toxicity]\nintercept = -2\nslope = \"steep\"\n", "d.toml:9: key toxicity.slope: found 'steep', expected a number"},
      {kDesign + "[toxicity]\nprobability = 1.5\n", "d.toml:8: key toxicity.probability"},
      {kDesign + "[toxicity]\nlink = \"fixed\"\n", "key toxicity.probability: missing"},
      {kDesign + "[response]\ncombine = \"most\"\n[[response.condition]]\nmetric = \"x\"\ncomparison = \">\"\nthreshold = 1\n",
       "d.toml:8: key response.combine: found 'most'"},
      {kDesign + "[[response.condition]]\nmetric = \"x\"\ncomparison = \"=\"\nthreshold = 1\n", "d.toml:9: key response.condition.comparison"},
      {kDesign + "[[response.condition]]\nmetric = \"x\"\ncomparison = \">\"\n", "expected metric, comparison and threshold"},
      {kDesign + "[toxicty]\n", "unknown key 'toxicty' (did you mean 'toxicity'?)"},
      {"[design]\nn1 = 8\nn = 24\nmax_tox_stage1 = 9\nmin_responders = 4\nresponders_from = \"all\"\n", "d.toml:4: key design.max_tox_stage1"},
      {"[design]\nn1 = 8\nn = 24\nmax_tox_stage1 = 5\nmin_responders = 4.5\nresponders_from = \"all\"\n", "d.toml:5: key design.min_responders"},
      {"[design]\nn1 = 8\nn = 24\nmax_tox_stage1 = 5\nmin_responders = 20\nresponders_from = \"stage2\"\n", "responders among the n - n1 stage-2 patients"},
      {"[design]\nn1 = 8\nn = 24\nmax_tox_stage1 = 5\nresponders_from = \"all\"\n", "key design.min_responders: missing"},
      {"[design]\nn1 = 8\nn = 24\nmax_tox_stage1 = 5\nmin_responders = 4\nresponders_from = \"both\"\n", "expected \"all\" or \"stage2\""},
      {"[toxicity]\nprobability = 0.3\n", "no [design] table"},
      {"[design\n", "d.toml:1:"},
  };
  for (const auto& c : cases) {
    const auto message = error_of(c.text);
    INFO(c.text);
    INFO(message);
    CHECK(message.find(c.want) != std::string::npos);
  }
}
