// The population layer: sampling from the population parameter model against its targets, per-patient random
// streams, categorical levels (drawn, applied, round-tripped through HDF5 and between ranks), IIV and scenario files
// (values and errors), the cohort executor, and the virtual population's summaries against an exact computation on
// the same patients.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include <unistd.h>

#include "io/h5_file.hpp"
#include "io/h5_reader.hpp"
#include "io/population_file.hpp"
#include "io/population_h5.hpp"
#include "pkmodel/cohort.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/population.hpp"
#include "pkmodel/registry.hpp"
#include "pkmodel/scenario.hpp"
#include "pkmodel/vpop.hpp"

using namespace cartpk;

namespace {
const Model& stein() { return find_model("stein2019"); }
const Model& m2() { return find_model("cart_cd19_bcma"); }

struct Moments {
  double mean = 0, variance = 0;
};
Moments moments(const std::vector<double>& x) {
  Moments m;
  for (double v : x) m.mean += v;
  m.mean /= static_cast<double>(x.size());
  for (double v : x) m.variance += (v - m.mean) * (v - m.mean);
  m.variance /= static_cast<double>(x.size() - 1);
  return m;
}
}  // namespace

TEST_CASE("vpop sampling: stein2019's published omega2, 20,000 patients: log-parameter moments within 3 SE") {
  const auto population = published_population(stein());
  const auto chol = omega_cholesky(population);
  const std::size_t n = 20000;
  const auto k = population.random_effects.size();
  REQUIRE(k == 6);
  std::vector<std::vector<double>> log_ratio(k);
  for (std::size_t i = 0; i < n; ++i) {
    const auto patient = sample_patient(population, chol, {}, 1, i);  // seed 1, the program's default
    REQUIRE(patient.ok);
    for (std::size_t e = 0; e < k; ++e) {
      const auto p = static_cast<std::size_t>(population.random_effects[e]);
      log_ratio[e].push_back(std::log(patient.parameters[p] / population.typical[p]));
    }
  }
  for (std::size_t e = 0; e < k; ++e) {
    const double omega2 = stein().parameters()[static_cast<std::size_t>(population.random_effects[e])].iiv_omega2;
    const auto m = moments(log_ratio[e]);
    INFO("parameter ", stein().parameters()[static_cast<std::size_t>(population.random_effects[e])].name);
    CHECK(std::abs(m.mean) <= 3.0 * std::sqrt(omega2 / n));
    CHECK(std::abs(m.variance - omega2) <= 3.0 * omega2 * std::sqrt(2.0 / (n - 1)));
  }
}

TEST_CASE("vpop sampling: a logit-scale random effect (a population fit's, on a fraction) keeps every draw in (0, 1) with logit moments within 3 SE") {
  // stein2019's fb at 0.4 with ω² 0.8 on the logit scale: log-normal draws would exceed 1 a quarter of the time.
  auto population = published_population(stein());
  const int fb = stein().parameter_index("fb");
  population.typical[static_cast<std::size_t>(fb)] = 0.4;
  population.random_effects = {fb};
  population.eta_scales = {EtaScale::logit};
  population.omega = Eigen::MatrixXd::Constant(1, 1, 0.8);
  population.validate("test");
  // One draw by hand: logit⁻¹(logit 0.4 + 1) = 1/(1 + 1.5·e⁻¹).
  CHECK(population.individual(Eigen::VectorXd::Constant(1, 1.0), {})[static_cast<std::size_t>(fb)] ==
        doctest::Approx(1.0 / (1.0 + 1.5 * std::exp(-1.0))).epsilon(1e-14));
  const auto chol = omega_cholesky(population);
  std::vector<double> logit_shift;
  const std::size_t n = 20000;
  for (std::size_t i = 0; i < n; ++i) {
    const auto patient = sample_patient(population, chol, {}, 1, i);
    REQUIRE(patient.ok);
    const double p = patient.parameters[static_cast<std::size_t>(fb)];
    REQUIRE(p > 0.0);
    REQUIRE(p < 1.0);
    logit_shift.push_back(std::log(p / (1.0 - p)) - std::log(0.4 / 0.6));
  }
  const auto m = moments(logit_shift);
  CHECK(std::abs(m.mean) <= 3.0 * std::sqrt(0.8 / n));
  CHECK(std::abs(m.variance - 0.8) <= 3.0 * 0.8 * std::sqrt(2.0 / (n - 1)));
}

TEST_CASE("vpop sampling: a correlation of an IIV file is recovered within 0.03") {
  const auto population = io::parse_iiv_text(
      "[iiv]\ncmax = { omega2 = 0.65 }\nalpha = { cv = 80 }\n[[correlation]]\na = \"cmax\"\nb = \"alpha\"\nr = -0.6\n",
      "iiv.toml", stein());
  CHECK(population.omega(1, 1) == doctest::Approx(std::log1p(0.64)));
  const auto chol = omega_cholesky(population);
  std::vector<double> a, b;
  for (std::size_t i = 0; i < 20000; ++i) {
    const auto patient = sample_patient(population, chol, {}, 7, i);
    a.push_back(patient.eta[0]);
    b.push_back(patient.eta[1]);
  }
  const auto ma = moments(a), mb = moments(b);
  double cov = 0;
  for (std::size_t i = 0; i < a.size(); ++i) cov += (a[i] - ma.mean) * (b[i] - mb.mean);
  cov /= static_cast<double>(a.size() - 1);
  CHECK(cov / std::sqrt(ma.variance * mb.variance) == doctest::Approx(-0.6).epsilon(0.05));
  CHECK(std::abs(cov / std::sqrt(ma.variance * mb.variance) + 0.6) <= 0.03);
}

TEST_CASE("vpop sampling: patient k's draws depend on (seed, k) only") {
  const auto population = published_population(stein());
  const auto chol = omega_cholesky(population);
  const auto a = sample_patient(population, chol, {CovariateDistribution{}}, 11, 42);
  const auto b = sample_patient(population, chol, {CovariateDistribution{}}, 11, 42);
  const auto c = sample_patient(population, chol, {CovariateDistribution{}}, 11, 43);
  const auto d = sample_patient(population, chol, {CovariateDistribution{}}, 12, 42);
  CHECK(a.parameters == b.parameters);
  CHECK(a.covariates == b.covariates);
  CHECK(a.parameters != c.parameters);
  CHECK(a.parameters != d.parameters);
  PatientRng rng(1, 2);
  double mean = 0;
  for (int i = 0; i < 100000; ++i) mean += rng.uniform();
  CHECK(mean / 100000 == doctest::Approx(0.5).epsilon(0.01));
}

TEST_CASE("vpop sampling: body weight is log-normal with the given median and CV, inside its range") {
  const auto population = published_population(stein());
  const auto chol = omega_cholesky(population);
  const CovariateDistribution weight{"WT", "kg", 70.0, 0.2, 40.0, 150.0, {}, "log-normal"};
  std::vector<double> log_wt;
  for (std::size_t i = 0; i < 20000; ++i) {
    const double wt = sample_patient(population, chol, {weight}, 3, i).covariates.at("WT");
    CHECK((wt >= 40.0 && wt <= 150.0));
    log_wt.push_back(std::log(wt));
  }
  const auto m = moments(log_wt);
  const double sd = std::sqrt(std::log1p(0.04));
  CHECK(std::abs(m.mean - std::log(70.0)) <= 3.0 * sd / std::sqrt(20000.0) + 1e-3);  // truncation at ±4.3 SD: negligible
  CHECK(std::sqrt(m.variance) == doctest::Approx(sd).epsilon(0.02));
}

TEST_CASE("population model: covariate relations (power, exponential) multiply the typical value") {
  auto population = published_population(stein());
  const int cmax = stein().parameter_index("cmax"), alpha = stein().parameter_index("alpha");
  population.relations = {{cmax, "WT", CovariateForm::power, 70.0, 0.75, ""}, {alpha, "WT", CovariateForm::exponential, 70.0, 0.01, ""}};
  const Eigen::VectorXd eta = Eigen::VectorXd::Zero(6);
  const auto p = population.individual(eta, {{"WT", 90.0}});
  CHECK(p[static_cast<std::size_t>(cmax)] == doctest::Approx(24000.0 * std::pow(90.0 / 70.0, 0.75)).epsilon(1e-14));
  CHECK(p[static_cast<std::size_t>(alpha)] == doctest::Approx(0.16 * std::exp(0.2)).epsilon(1e-14));
  CHECK_THROWS_AS((void)population.individual(eta, {}), InputError);
}

TEST_CASE("population model: a categorical relation shifts its level's typical value on the estimation scale") {
  auto population = published_population(stein());
  const int cmax = stein().parameter_index("cmax"), fb = stein().parameter_index("fb");
  population.relations = {{cmax, "PRODUCT", CovariateForm::categorical, 0.0, 0.5, "CD19"},
                          {fb, "LD", CovariateForm::categorical, 0.0, -1.0, "1"}};
  const Eigen::VectorXd eta = Eigen::VectorXd::Zero(6);
  const double fb_typical = population.typical[static_cast<std::size_t>(fb)];
  const double logit = std::log(fb_typical / (1.0 - fb_typical)) - 1.0;  // a fraction moves on the logit scale
  const auto p = population.individual(eta, {{"LD", 1.0}}, {{"PRODUCT", "CD19"}});
  CHECK(p[static_cast<std::size_t>(cmax)] == doctest::Approx(24000.0 * std::exp(0.5)).epsilon(1e-14));
  CHECK(p[static_cast<std::size_t>(fb)] == doctest::Approx(1.0 / (1.0 + std::exp(-logit))).epsilon(1e-14));
  const auto reference = population.individual(eta, {{"LD", 0.0}}, {{"PRODUCT", "BCMA"}});
  CHECK(reference[static_cast<std::size_t>(cmax)] == 24000.0);
  CHECK(reference[static_cast<std::size_t>(fb)] == fb_typical);
  CHECK_THROWS_AS((void)population.individual(eta, {{"LD", 1.0}}), InputError);  // no PRODUCT
}

namespace {
// stein2019 at its published variability, with a categorical covariate PRODUCT (A 30 %, B 70 %) and a relation
// that multiplies cmax by e^0.7 for level B.
PopulationModel product_population() {
  auto population = published_population(stein());
  population.relations = {{stein().parameter_index("cmax"), "PRODUCT", CovariateForm::categorical, 0.0, 0.7, "B"}};
  population.categories = {{"PRODUCT", {"A", "B"}, {0.3, 0.7}}};
  population.validate("test");
  return population;
}
}  // namespace

TEST_CASE("vpop sampling: categorical levels drawn with their probabilities (20,000 patients, within 3 binomial SE), each patient's cmax shifted by its level's coefficient") {
  const auto population = product_population();
  const auto chol = omega_cholesky(population);
  const auto cmax = static_cast<std::size_t>(stein().parameter_index("cmax"));
  const auto eta_cmax = static_cast<Eigen::Index>(
      std::find(population.random_effects.begin(), population.random_effects.end(), static_cast<int>(cmax)) -
      population.random_effects.begin());
  REQUIRE(eta_cmax < static_cast<Eigen::Index>(population.random_effects.size()));
  const std::size_t n = 20000;
  std::map<std::string, std::size_t> count;
  double worst = 0.0;  // largest relative difference from typical·exp(coefficient·[level B])·exp(η_cmax)
  SampledPatient patient17;
  for (std::size_t i = 0; i < n; ++i) {
    const auto patient = sample_patient(population, chol, {}, 5, i);
    REQUIRE(patient.ok);
    const std::string& level = patient.categories.at("PRODUCT");
    ++count[level];
    const double by_hand = population.typical[cmax] * (level == "B" ? std::exp(0.7) : 1.0) * std::exp(patient.eta[eta_cmax]);
    worst = std::max(worst, std::abs(patient.parameters[cmax] / by_hand - 1.0));
    if (i == 17) patient17 = patient;
  }
  CHECK(count.size() == 2);
  CHECK(worst <= 1e-12);
  for (const auto& [level, p] : {std::pair{"A", 0.3}, std::pair{"B", 0.7}}) {
    INFO("level ", level, ": ", count[level], " of ", n);
    CHECK(std::abs(static_cast<double>(count[level]) / n - p) <= 3.0 * std::sqrt(p * (1.0 - p) / n));
  }
  // Patient 17 drawn alone is the loop's patient 17: its draws depend on (seed, k) only.
  const auto alone = sample_patient(population, chol, {}, 5, 17);
  CHECK(alone.categories == patient17.categories);
  CHECK(alone.eta == patient17.eta);
  CHECK(alone.parameters == patient17.parameters);
}

TEST_CASE("vpop sampling: categories come from a stream of their own, so adding them leaves every patient's covariates and eta as they were") {
  auto with = published_population(stein());
  with.categories = {{"PRODUCT", {"A", "B"}, {0.3, 0.7}}};
  const auto without = published_population(stein());
  const auto chol = omega_cholesky(without);
  for (std::size_t i = 0; i < 50; ++i) {
    const auto a = sample_patient(with, chol, {CovariateDistribution{}}, 9, i);
    const auto b = sample_patient(without, chol, {CovariateDistribution{}}, 9, i);
    CHECK(a.categories.size() == 1);
    CHECK(b.categories.empty());
    CHECK(a.covariates == b.covariates);
    CHECK(a.eta == b.eta);
    CHECK(a.parameters == b.parameters);
  }
}

TEST_CASE("vpop: a patient's categorical levels survive the trip between MPI ranks (encode, decode)") {
  const auto population = product_population();
  PatientResult patient;
  patient.index = 17;
  patient.sample = sample_patient(population, omega_cholesky(population), {CovariateDistribution{}}, 5, 17);
  ByteWriter out;
  encode(out, patient);
  ByteReader in(out.bytes());
  const auto back = decode_patient(in);
  CHECK(back.sample.categories.size() == 1);
  CHECK(back.sample.categories == patient.sample.categories);
  CHECK(back.sample.covariates == patient.sample.covariates);
  CHECK(back.sample.parameters == patient.sample.parameters);
}

TEST_CASE("vpop: a whole patient survives the trip between MPI ranks: status, messages, metrics, trajectories") {
  const auto population = product_population();
  PatientResult patient;
  patient.index = 4;
  patient.sample = sample_patient(population, omega_cholesky(population), {CovariateDistribution{}}, 3, 4);
  patient.status.assign(3, PatientStatus::ok);
  patient.metric_values = {1.5, 2.5, std::nan(""), 4.0, -5.0, 6.25};  // 3 scenarios x 2 metrics
  patient.fail(1, PatientStatus::solver_failed, "CVODES: too much work at t = 3.5");
  patient.trajectories.assign(3, Eigen::MatrixXd::Constant(2, 3, 0.5));
  patient.trajectories[2](1, 2) = 7.0;
  ByteWriter out;
  encode(out, patient);
  ByteReader in(out.bytes());
  const auto back = decode_patient(in);
  CHECK(in.done());
  CHECK(back.index == 4);
  CHECK(back.status == patient.status);
  CHECK(back.message(0).empty());
  CHECK(back.message(1) == "CVODES: too much work at t = 3.5");
  REQUIRE(back.metric_values.size() == 6);
  CHECK(back.metrics(2)[1] == 6.25);
  CHECK(std::isnan(back.metrics(1)[0]));
  CHECK(back.metrics(0)[0] == 1.5);
  CHECK(back.sample.eta.isApprox(patient.sample.eta));
  REQUIRE(back.trajectories.size() == 3);
  CHECK(back.trajectories[2](1, 2) == 7.0);
  PatientResult ok;  // no failure: no messages at all
  ok.status.assign(2, PatientStatus::ok);
  ok.metric_values.assign(4, 1.0);
  CHECK(ok.messages.empty());
  CHECK(ok.message(1).empty());
  CHECK(ok.metrics(1).size() == 2);
}

TEST_CASE("population HDF5: the categorical distributions round-trip exactly; probabilities not summing to 1 are refused naming the file and dataset") {
  const auto dir = std::filesystem::temp_directory_path() / ("cartpk-test-categories-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto population = product_population();
  population.categories.push_back({"LD", {"0", "1"}, {0.25, 0.75}});
  const auto good = dir / "good.h5";
  {
    io::H5File file(good);
    io::write_population(file.root().subgroup("population"), population);
    file.close();
  }
  const auto back = io::read_population(io::H5Reader(good), "/population", stein());
  REQUIRE(back.categories.size() == 2);
  for (std::size_t c = 0; c < 2; ++c) {
    CHECK(back.categories[c].name == population.categories[c].name);
    CHECK(back.categories[c].levels == population.categories[c].levels);
    CHECK(back.categories[c].probabilities == population.categories[c].probabilities);
  }
  CHECK(back.relations.at(0).level == "B");

  population.categories[1].probabilities = {0.25, 0.7};  // sums to 0.95
  const auto bad = dir / "bad.h5";
  {
    io::H5File file(bad);
    io::write_population(file.root().subgroup("population"), population);
    file.close();
  }
  CHECK_THROWS_WITH_AS((void)io::read_population(io::H5Reader(bad), "/population", stein()),
                       doctest::Contains((bad.string() + ": /population: category_probability of LD: the levels' "
                                          "probabilities sum to 0.95").c_str()),
                       InputError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("IIV file: bad input names file, line and key") {
  auto message = [](const std::string& text, const Model& model) {
    try {
      (void)io::parse_iiv_text(text, "iiv.toml", model);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("[iiv]\nrhoo = { cv = 30 }\n", m2()).find("iiv.toml:2: key iiv.rhoo: model cart_cd19_bcma has no parameter 'rhoo' (did you mean 'rho'?)") == 0);
  CHECK(message("[iiv]\nrho = { omega2 = -0.1 }\n", m2()).find("iiv.toml:2: key iiv.rho.omega2: found -0.1, expected a variance > 0") == 0);
  CHECK(message("[iiv]\nrho = { cv = 30 }\ndele = { cv = 30 }\n[[correlation]]\na = \"rho\"\nb = \"dele\"\nr = 0.99\n"
                "[[correlation]]\na = \"rho\"\nb = \"kem\"\nr = 0.5\n", m2()).find("which has no [iiv] entry") != std::string::npos);
  // Three pairwise correlations that no covariance matrix can have: not positive definite.
  CHECK(message("[iiv]\nrho = { cv = 30 }\ndele = { cv = 30 }\nkem = { cv = 30 }\n"
                "[[correlation]]\na = \"rho\"\nb = \"dele\"\nr = 0.9\n[[correlation]]\na = \"rho\"\nb = \"kem\"\nr = 0.9\n"
                "[[correlation]]\na = \"dele\"\nb = \"kem\"\nr = -0.9\n", m2()).find("iiv.toml: Ω is not positive definite") == 0);
  CHECK(message("[iiv]\nrho = { cv = 30 }\n[oops]\n", m2()).find("iiv.toml:3: unknown key 'oops'") == 0);
  CHECK(message("[iiv]\nrho = { cvv = 30 }\n", m2()).find("iiv.toml:2: unknown key 'iiv.rho.cvv' (did you mean 'cv'?)") == 0);
  CHECK(message("[iiv]\nkr = { cv = 30 }\n[typical]\nkr = 0\n", m2()).find("iiv.toml:2: key iiv.kr: kr has typical value 0 (domain: a number >= 0), expected a typical value > 0") != std::string::npos);
}

TEST_CASE("scenarios file: values in file order, and bad input named by file, line and key") {
  const auto scenarios = io::parse_scenarios_text(
      "[scenario.high]\ndose_per_kg = 2e6\n\n[scenario.cd19_split]\nproduct = \"cd19\"\nschedule = [[0, 0.1], [1, 0.3], [2, 0.6]]\n"
      "lymphodepletion = false\n[scenario.cd19_split.parameters]\nrho = 0.9\n",
      "s.toml");
  REQUIRE(scenarios.size() == 2);
  CHECK(scenarios[0].name == "high");
  CHECK(*scenarios[0].dose_per_kg == 2e6);
  CHECK(scenarios[1].name == "cd19_split");
  CHECK(scenarios[1].schedule.size() == 3);
  CHECK(scenarios[1].overrides.front() == std::pair<std::string, double>{"rho", 0.9});
  const auto resolved = resolve_scenario(m2(), scenarios[1], m2().default_parameters());
  CHECK(resolved.typical[static_cast<std::size_t>(m2().parameter_index("armbc"))] == 0.0);
  CHECK(resolved.typical[static_cast<std::size_t>(m2().parameter_index("ld"))] == 0.0);
  CHECK(resolved.typical[static_cast<std::size_t>(m2().parameter_index("rho"))] == 0.9);
  CHECK(resolved.doses.size() == 3);

  auto message = [](const std::string& text) {
    try {
      for (const auto& s : io::parse_scenarios_text(text, "s.toml")) (void)resolve_scenario(m2(), s, m2().default_parameters());
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("[scenario.a]\ndose_perkg = 1e6\n").find("s.toml:2: unknown key 'scenario.a.dose_perkg' (did you mean 'dose_per_kg'?)") == 0);
  CHECK(message("[scenario.a]\ndose_per_kg = 0\n").find("s.toml:2: key scenario.a.dose_per_kg: found 0, expected a dose in cells/kg > 0") == 0);
  CHECK(message("[scenario.a]\nproduct = \"cd20\"\n").find("s.toml:1: scenario a: product 'cd20': model cart_cd19_bcma has no such preset") == 0);
  CHECK(message("[scenario.a]\n[scenario.a]\n").find("s.toml:2") == 0);  // a scenario named twice: TOML's own error
  CHECK(message("[scenario.a.parameters]\nrhoo = 1\n").find("no parameter rhoo") != std::string::npos);
  const Scenario dose_on_stein{"d", "x.toml:3", "", {}, 1e6, {}, {}};
  CHECK_THROWS_WITH_AS(resolve_scenario(stein(), dose_on_stein, stein().default_parameters()),
                       doctest::Contains("x.toml:3: dose_per_kg: model stein2019 has no parameter dose_per_kg"), InputError);
}

TEST_CASE("cohort executor: every item once, results independent of the thread count, errors rethrown") {
  for (int threads : {1, 2, 4}) {
    std::vector<int> seen(1000, 0);
    std::size_t finished_workspaces = 0;
    const auto done = run_cohort(
        all_items(1000), {threads, nullptr}, [] { return 0; }, [](int& calls, std::size_t i) { ++calls; return static_cast<int>(i * i); },
        [&](std::size_t i, int&& r) { seen[i] += (r == static_cast<int>(i * i)); },
        [&](int&) { ++finished_workspaces; });
    CHECK(done == 1000);
    CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
    CHECK(finished_workspaces == static_cast<std::size_t>(threads));
  }
  CHECK_THROWS_AS(run_cohort(all_items(10), {2, nullptr}, [] { return 0; },
                             [](int&, std::size_t i) -> int { if (i == 5) throw std::runtime_error("x"); return 0; },
                             [](std::size_t, int&&) {}, [](int&) {}),
                  std::runtime_error);
  std::atomic<bool> cancel{true};
  CHECK(run_cohort(all_items(10), {2, &cancel}, [] { return 0; }, [](int&, std::size_t) { return 0; },
                   [](std::size_t, int&&) {}, [](int&) {}) == 0);
  InOrder<int> order(all_items(4));
  std::vector<std::size_t> delivered;
  for (std::size_t i : {2, 0, 3, 1}) order.push(i, 0, [&](std::size_t k, int&&) { delivered.push_back(k); });
  CHECK(delivered == std::vector<std::size_t>{0, 1, 2, 3});
}

namespace {
// stein2019 with its published ω², one unchanged scenario, closed form, on a grid through tmax (9.3 days).
VpopSettings stein_settings(std::size_t n_patients, std::uint64_t seed) {
  VpopSettings settings;
  settings.n_patients = n_patients;
  settings.seed = seed;
  settings.times_day = {0, 3, 9.3, 14, 28, 90, 365};
  settings.scenarios = {Scenario{}};
  settings.method = "closed";
  return settings;
}

// stein2019's qPCR curve at day t, written out from spec M1 (independent of the solver).
double stein_qpcr(const std::vector<double>& p, double t) {
  const double foldx = p[0], tmax = p[1], cx = p[2], alpha = p[3], fb = p[4], beta = p[5];
  return t < tmax ? cx / foldx * std::exp(std::log(foldx) / tmax * t)
                  : (1 - fb) * cx * std::exp(-alpha * (t - tmax)) + fb * cx * std::exp(-beta * (t - tmax));
}
}  // namespace

TEST_CASE("vpop: bands and metric quantiles of stein2019 equal exact quantiles of the same patients (within α)") {
  const auto settings = stein_settings(2000, 5);
  VirtualPopulation vpop(published_population(stein()), settings);
  auto summaries = vpop.empty_summaries();
  auto solver = vpop.make_workspace_solver();
  const int qpcr = stein().observable_index("qpcr");
  std::vector<std::vector<double>> values(settings.times_day.size());
  std::vector<double> cmax;
  for (std::size_t i = 0; i < settings.n_patients; ++i) {
    const auto patient = vpop.simulate(*solver, i, summaries);
    REQUIRE(patient.status[0] == PatientStatus::ok);
    for (std::size_t k = 0; k < settings.times_day.size(); ++k)
      values[k].push_back(stein_qpcr(patient.sample.parameters, settings.times_day[k]));
    cmax.push_back(patient.metrics(0)[3]);  // qpcr_cmax (flow_cmax, flow_tmax, flow_auc come first)
    summaries[0].add_metrics(patient.metrics(0));
  }
  summaries[0].flush_pending();
  REQUIRE(vpop.metric_columns()[3].name == "qpcr_cmax");
  const double alpha = settings.band_accuracy;
  for (std::size_t k = 0; k < settings.times_day.size(); ++k) {
    auto sorted = values[k];
    std::sort(sorted.begin(), sorted.end());
    for (double q : settings.quantile_levels) {
      const double exact = sorted[static_cast<std::size_t>(std::floor(q * static_cast<double>(sorted.size() - 1)))];
      const double band = summaries[0].bands[static_cast<std::size_t>(qpcr) * settings.times_day.size() + k].quantile(q);
      INFO("t = ", settings.times_day[k], ", q = ", q);
      CHECK(std::abs(band - exact) <= alpha * exact * (1 + 1e-9) + 1e-9 * exact);
    }
  }
  std::sort(cmax.begin(), cmax.end());  // n = 2000: the median lies half-way between order statistics 999 and 1000
  const auto q = summaries[0].metric_quantiles({0.05, 0.5});
  CHECK(q[3 * 2 + 1] == doctest::Approx(0.5 * (cmax[999] + cmax[1000])).epsilon(1e-15));
  CHECK(q[3 * 2] == doctest::Approx(cmax[99] + 0.95 * (cmax[100] - cmax[99])).epsilon(1e-15));  // 0.05·1999 = 99.95
}

TEST_CASE("vpop refuses a continuous covariate relation on a covariate it does not sample, naming it") {
  auto population = published_population(stein());
  population.relations = {{stein().parameter_index("cmax"), "AGE", CovariateForm::power, 50.0, 0.5, ""}};
  VpopSettings settings;
  settings.n_patients = 10;
  settings.times_day = {0, 28};
  settings.scenarios = {Scenario{}};
  settings.method = "closed";
  CHECK_THROWS_WITH_AS(VirtualPopulation(population, settings), doctest::Contains("uses AGE, which vpop does not sample"),
                       InputError);
  population.relations.front().covariate = "WT";  // body weight is sampled
  CHECK_NOTHROW(VirtualPopulation(population, settings));
}

TEST_CASE("byte codec: unsigned words round-trip as varints (1 byte below 128, 10 for the largest), and a "
          "truncated message is refused") {
  const std::vector<std::uint64_t> words{0, 1, 127, 128, 300, 16383, 16384, std::uint64_t{1} << 35,
                                         std::numeric_limits<std::uint64_t>::max()};
  ByteWriter out;
  out.put_varints(words);
  CHECK(out.bytes().size() == sizeof(std::size_t) + 1 + 1 + 1 + 2 + 2 + 2 + 3 + 6 + 10);
  ByteReader in(out.bytes());
  CHECK(in.get_varints() == words);
  CHECK(in.done());
  auto cut = out.bytes();
  cut.resize(cut.size() - 1);  // without the last byte of the largest word
  ByteReader truncated(cut);
  CHECK_THROWS(truncated.get_varints());
}

TEST_CASE("vpop: with one scratch per thread (curves handed to the bands by swapping buffers), kept trajectories "
          "are each patient's closed form and the bands equal those of fresh buffers") {
  auto settings = stein_settings(600, 21);
  settings.keep_trajectories = 600;  // more than a band block (256 patients): recycled buffers are kept too
  VirtualPopulation vpop(published_population(stein()), settings);
  auto solver = vpop.make_workspace_solver();
  auto reused = vpop.empty_summaries(), fresh = vpop.empty_summaries();
  VpopScratch scratch;
  const int qpcr = stein().observable_index("qpcr");
  double worst = 0.0;
  for (std::size_t i = 0; i < settings.n_patients; ++i) {
    const auto patient = vpop.simulate(*solver, scratch, i, reused);
    (void)vpop.simulate(*solver, i, fresh);  // a new scratch, so new buffers, every time
    REQUIRE(patient.trajectories.size() == 1);
    for (std::size_t k = 0; k < settings.times_day.size(); ++k) {
      const double expected = stein_qpcr(patient.sample.parameters, settings.times_day[k]);
      worst = std::max(worst, std::abs(patient.trajectories[0](static_cast<Eigen::Index>(k), qpcr) / expected - 1));
    }
  }
  CHECK(worst < 1e-12);
  for (auto* part : {&reused, &fresh})
    for (auto& summary : *part) summary.flush_pending();
  for (std::size_t b = 0; b < reused[0].bands.size(); ++b) CHECK(reused[0].bands[b].to_words() == fresh[0].bands[b].to_words());
}

TEST_CASE("vpop: summaries merged from their encoding (as rank 0 merges another rank's), or moved into empty totals, "
          "equal the summaries merged directly: every band quantile, event count and patient count") {
  const auto settings = stein_settings(300, 9);
  VirtualPopulation vpop(published_population(stein()), settings);
  auto solver = vpop.make_workspace_solver();
  auto first = vpop.empty_summaries(), second = vpop.empty_summaries();
  for (std::size_t i = 0; i < settings.n_patients; ++i) vpop.simulate(*solver, i, i % 3 == 0 ? first : second);
  for (auto* part : {&first, &second})
    for (auto& s : *part) s.flush_pending();
  auto direct = first, encoded = first;
  for (std::size_t s = 0; s < direct.size(); ++s) direct[s].merge(second[s]);
  ByteWriter out;
  encode(out, second);
  ByteReader in(out.bytes());
  merge_encoded(in, encoded);
  CHECK(in.done());
  for (std::size_t s = 0; s < direct.size(); ++s) {
    CHECK(encoded[s].simulated == direct[s].simulated);
    CHECK(encoded[s].simulated == settings.n_patients);
    for (std::size_t e = 0; e < direct[s].events.size(); ++e) CHECK(encoded[s].events[e].count == direct[s].events[e].count);
    for (std::size_t b = 0; b < direct[s].bands.size(); ++b)
      for (double q : {0.0, 0.05, 0.5, 0.95, 1.0}) CHECK(encoded[s].bands[b].quantile(q) == direct[s].bands[b].quantile(q));
  }
  // As the threads' summaries reach the totals: the first moves in whole (its sketches taken), the second merges.
  auto moved = vpop.empty_summaries();
  auto first_copy = first;
  for (std::size_t s = 0; s < moved.size(); ++s) {
    moved[s].merge(std::move(first_copy[s]));
    moved[s].merge(std::move(second[s]));
    CHECK(moved[s].simulated == direct[s].simulated);
    CHECK(first_copy[s].bands[0].empty());  // left with the empty sketches the totals had
    for (std::size_t e = 0; e < direct[s].events.size(); ++e) CHECK(moved[s].events[e].count == direct[s].events[e].count);
    for (std::size_t b = 0; b < direct[s].bands.size(); ++b)
      CHECK(moved[s].bands[b].to_words() == direct[s].bands[b].to_words());
  }
  auto other = vpop.empty_summaries();
  other[0].bands.pop_back();  // another grid: refused
  ByteReader again(out.bytes());
  CHECK_THROWS(merge_encoded(again, other));
}
