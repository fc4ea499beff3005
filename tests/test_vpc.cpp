// VPC statistics (fitting/vpc): type-7 percentiles with BLQ values, automatic bins, record LLOQs, and a replicate
// study without variability reproducing the model's predictions.
#include <doctest/doctest.h>

#include <cmath>

#include "fitting/vpc.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;
using namespace cartpk::fitting;

TEST_CASE("vpc percentiles are type 7, BLQ values rank lowest and a BLQ lower order statistic gives NaN") {
  const std::vector<double> v{5, 1, 4, 2, 3};
  const std::vector<char> none(5, 0);
  CHECK(censored_percentile(v, none, 0.5) == 3.0);
  CHECK(censored_percentile(v, none, 0.05) == doctest::Approx(1.2).epsilon(1e-15));
  CHECK(censored_percentile(v, none, 0.95) == doctest::Approx(4.8).epsilon(1e-15));
  const std::vector<char> low{0, 1, 0, 1, 0};  // 1 and 2 are BLQ
  CHECK(std::isnan(censored_percentile(v, low, 0.05)));
  CHECK(std::isnan(censored_percentile(v, low, 0.45)));  // h = 1.8: between the 2nd (BLQ) and the 3rd
  CHECK(censored_percentile(v, low, 0.5) == 3.0);
  CHECK(censored_percentile(v, low, 0.75) == 4.0);
  CHECK(std::isnan(censored_percentile({}, {}, 0.5)));
}

TEST_CASE("vpc automatic bins hold similar record counts and never split a sampling time") {
  std::vector<double> times;
  for (int day = 1; day <= 14; ++day)
    for (int k = 0; k < 60; ++k) times.push_back(day);
  const auto edges = auto_bin_edges(times);  // 840 records: min(max(3, 21), 15) = 15 wanted, 14 distinct times
  REQUIRE(edges.size() == 15);
  CHECK(edges.front() == 1.0);
  CHECK(edges.back() == 14.0);
  for (std::size_t k = 1; k + 1 < edges.size(); ++k) CHECK(edges[k] == doctest::Approx(static_cast<double>(k) + 0.5));
  const std::vector<double> ten{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // 3 bins: cuts nearest 3.33 and 6.67 records
  CHECK(auto_bin_edges(ten) == std::vector<double>{1, 3.5, 7.5, 10});
}

TEST_CASE("vpc record LLOQ: the record's own, else the lowest of its observable, else none") {
  Subject s;
  s.observations = {{1.0, 0, 50.0, true, std::nan(""), 0}, {2.0, 0, 800.0, false, std::nan(""), 0},
                    {3.0, 0, 900.0, false, 20.0, 0}, {4.0, 1, 3.0, false, std::nan(""), 0}};
  const auto lloq = record_lloqs({s}, 2);
  CHECK(lloq[0][0] == 50.0);
  CHECK(lloq[0][1] == 20.0);
  CHECK(lloq[0][2] == 20.0);
  CHECK(std::isnan(lloq[0][3]));
}

TEST_CASE("vpc without variability reproduces the predictions; pcVPC is refused with BLQ data") {
  const Model& model = find_model("stein2019");
  VpcModel vpc;
  vpc.population = {&model, model.default_parameters(), {}, Eigen::MatrixXd(), {}, "test", {}, {}, {}};
  vpc.errors.assign(model.n_observables(), ErrorModel{ErrorType::additive, 1e-300, 0.0, false});
  std::vector<Subject> subjects(3);
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    subjects[i].id = std::to_string(i + 1);
    for (double t : {1.0, 10.0, 100.0}) subjects[i].observations.push_back({t, 0, 1.0 + static_cast<double>(i), false, std::nan(""), 0});
  }
  VpcOptions options;
  options.replicates = 5;
  options.threads = 1;
  options.bin_edges = {0.5, 5, 50, 500};
  const auto r = run_vpc(vpc, subjects, options);
  const auto solver = make_solver(model, "closed");
  SimulationRequest request{model.default_parameters(), {1.0, 10.0, 100.0}, {}, {}};
  const auto prediction = solver->solve(request);
  REQUIRE(r.observables.size() == 1);
  for (int b = 0; b < 3; ++b) {
    const auto& bin = r.observables[0].bins[static_cast<std::size_t>(b)];
    CHECK(bin.n_observed == 3);
    CHECK(bin.observed[1] == 2.0);  // the data's median
    for (int q = 0; q < 3; ++q)
      for (int a = 0; a < 3; ++a) CHECK(bin.simulated[q][a] == doctest::Approx(prediction.observables(b, 0)).epsilon(1e-12));
    CHECK(bin.simulated_blq[1] == 0.0);
  }
  subjects[0].observations[0].censored = true;
  options.pred_corrected = true;
  CHECK_THROWS_AS(run_vpc(vpc, subjects, options), InputError);
}

TEST_CASE("vpc applies a categorical covariate effect to the subjects of its level (text or numeric code)") {
  const Model& model = find_model("stein2019");
  const int cmax = model.parameter_index("cmax");
  VpcModel vpc;
  vpc.population = {&model, model.default_parameters(), {}, Eigen::MatrixXd(), {}, "test", {}, {}, {}};
  vpc.population.relations = {{cmax, "PRODUCT", CovariateForm::categorical, 0.0, std::log(2.0), "CD19"}};
  vpc.errors.assign(model.n_observables(), ErrorModel{ErrorType::additive, 1e-300, 0.0, false});
  std::vector<Subject> subjects(3);
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    subjects[i].id = std::to_string(i + 1);
    subjects[i].categorical["PRODUCT"] = i == 0 ? "CD19" : "BCMA";
    for (double t : {1.0, 10.0, 100.0}) subjects[i].observations.push_back({t, 0, 1.0, false, std::nan(""), 0});
  }
  VpcOptions options;
  options.replicates = 3;
  options.threads = 1;
  options.bin_edges = {0.5, 5, 50, 500};
  const auto solver = make_solver(model, "closed");
  const auto prediction = solver->solve(SimulationRequest{model.default_parameters(), {1.0, 10.0, 100.0}, {}, {}});
  // stein2019's curve is proportional to cmax: the CD19 subject's is twice the others'. Type-7 percentiles of
  // {f, f, 2f}: 5 % and 50 % are f, 95 % is f + 0.9·f.
  const auto check_bins = [&](const VpcResult& r) {
    for (int b = 0; b < 3; ++b) {
      const double f = prediction.observables(b, 0);
      const auto& bin = r.observables[0].bins[static_cast<std::size_t>(b)];
      CHECK(bin.simulated[0][1] == doctest::Approx(f).epsilon(1e-12));
      CHECK(bin.simulated[1][1] == doctest::Approx(f).epsilon(1e-12));
      CHECK(bin.simulated[2][1] == doctest::Approx(1.9 * f).epsilon(1e-12));
    }
  };
  check_bins(run_vpc(vpc, subjects, options));
  vpc.population.relations[0].covariate = "LD";  // a numeric code matches its level written as an integer
  vpc.population.relations[0].level = "1";
  for (std::size_t i = 0; i < subjects.size(); ++i) subjects[i].covariates["LD"] = i == 0 ? 1.0 : 0.0;
  check_bins(run_vpc(vpc, subjects, options));
}
