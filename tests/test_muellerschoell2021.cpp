// muellerschoell2021 (P3): the published values, sensitivities against central differences, the shared metrics,
// the covariates and the low-expansion class. (An independent SciPy implementation of the same equations is
// compared state by state in tests/python/test_muellerschoell2021_reference.py; the Jacobian is checked with
// every registered model's in tests/test_engine.cpp.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "pkmodel/cart_metrics.hpp"
#include "pkmodel/metrics.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "reference_checks.hpp"

using namespace cartpk;
using cartpk::testing::close_relative;

namespace {

const Model& ms() { return find_model("muellerschoell2021"); }
std::size_t ip(std::string_view name) { return cartpk::testing::parameter_at(ms(), name); }
int iy(std::string_view name) { return cartpk::testing::observable_at(ms(), name); }
std::vector<double> grid(double end, double step) { return cartpk::testing::even_grid(end, step); }
std::vector<double> column(const SimulationResult& r, std::string_view name) {
  return cartpk::testing::observable_column(ms(), r, name);
}
const Preset* preset(std::string_view name) {
  for (const auto& p : ms().presets())
    if (p.name == name) return &p;
  return nullptr;
}
std::vector<double> with_preset(std::string_view name) {
  auto p = ms().default_parameters();
  const Preset* found = preset(name);
  REQUIRE(found != nullptr);
  for (const auto& [parameter, value] : found->assignments)
    if (!parameter.empty()) p[ip(parameter)] = value;
  return p;
}
// Below this a CAR-T level is less than one cell in the whole circulation (1e-7 cells/µL x 5e6 µL = 0.5 cells);
// the Python reference test uses the same floor.
constexpr double kFloor = 1e-7;

}  // namespace

TEST_CASE("muellerschoell2021: every published value (tests/published_values) equals the model's table") {
  int rows = 0;
  std::vector<std::string> seen;
  for (const auto& v : cartpk::testing::published_values("muellerschoell2021")) {
    INFO("row: ", v.row);
    CHECK(v.source.find(',') == std::string::npos);
    const std::string& name = v.name;
    const double published = v.value;
    double in_model = std::nan("");
    if (name.starts_with("omega2:")) {
      in_model = ms().parameters()[ip(name.substr(7))].iiv_omega2;
    } else if (const auto slash = name.find('/'); slash != std::string::npos) {
      const Preset* found = preset(name.substr(0, slash));
      REQUIRE(found != nullptr);
      for (const auto& [parameter, value] : found->assignments)
        if (parameter == name.substr(slash + 1)) in_model = value;
    } else {
      in_model = ms().parameters()[ip(name)].default_value;
      seen.push_back(name);
    }
    CHECK(in_model == published);  // typed from the same decimal text: exactly equal
    ++rows;
  }
  CHECK(rows == 34);
  // Every parameter of the model has its published value in the file, and no other parameter has an IIV.
  for (const auto& spec : ms().parameters()) {
    INFO(spec.name);
    CHECK(std::find(seen.begin(), seen.end(), std::string(spec.name)) != seen.end());
    if (spec.name != "Vmax1_ref" && spec.name != "Vmax5_TCM") CHECK(spec.iiv_omega2 == 0.0);
  }
}

TEST_CASE("muellerschoell2021: sensitivities of every observable equal central differences") {
  // At the defaults (the estimated parameters) and at a patient with a prior ASCT, a CD4/CD8 ratio of 2.5 and
  // a large tumour (every parameter, covariates and initial values included).
  auto covariate_point = ms().default_parameters();
  covariate_point[ip("prior_ASCT")] = 1.0;
  covariate_point[ip("CD4CD8_ratio")] = 2.5;
  covariate_point[ip("tum0")] = 400.0;
  std::vector<int> estimated;
  for (std::string_view name : ms().default_estimated()) estimated.push_back(static_cast<int>(ip(name)));
  for (const auto* name : {"asct_effect", "cd4cd8_exp"}) estimated.push_back(static_cast<int>(ip(name)));
  std::vector<int> every(ms().n_parameters());
  for (std::size_t i = 0; i < every.size(); ++i) every[i] = static_cast<int>(i);

  const std::vector<double> times{1, 3, 5, 7, 10, 14, 21, 28, 42, 60, 90, 120, 180, 270, 365};
  SolverOptions tight;
  tight.rtol = 1e-13;
  tight.atol_scale = 1e-18;
  OdeSolver solver(ms(), tight);
  int compared = 0;
  double worst = 0.0;
  for (const auto& [p, which] : {std::pair{ms().default_parameters(), estimated}, std::pair{covariate_point, every}}) {
    SimulationRequest request{p, times, which, {}};
    const auto sens = solver.solve(request);
    const auto y = solver.solve({p, times, {}, {}});
    for (std::size_t j = 0; j < ms().n_observables(); ++j) {
      const auto f = [&](const std::vector<double>& q) {
        const auto r = solver.solve({q, times, {}, {}});
        const auto c = r.observables.col(static_cast<Eigen::Index>(j));
        return std::vector<double>(c.begin(), c.end());
      };
      for (std::size_t c = 0; c < which.size(); ++c) {
        const auto i = static_cast<std::size_t>(which[c]);
        // Richardson-extrapolated central differences (relative steps 1e-3 and 5e-4: truncation O(h^4)) of solves
        // at rtol 1e-13. At rtol 1e-11 and a 1e-4 step the differences themselves missed by up to 3e-4 where a
        // sensitivity is small next to its value (dtumor/dtem0 at day 10, dteff/dKM1): CVODE's global error
        // (~300 x rtol here) over the step; there the forward sensitivities agreed with Richardson differences
        // of a SciPy Radau solve at rtol 1e-13 to all printed digits.
        const auto coarse = cartpk::testing::central_difference(f, p, i, 1e-3);
        const auto fine = cartpk::testing::central_difference(f, p, i, 5e-4);
        std::vector<double> fd(coarse.size());
        for (std::size_t k = 0; k < fd.size(); ++k) fd[k] = (4.0 * fine[k] - coarse[k]) / 3.0;
        for (std::size_t k = 0; k < times.size(); ++k) {
          const double value = y.observables(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j));
          if (std::abs(value) < kFloor) continue;
          // Negligible (as for M2): doubling the parameter would move the value by less than 1e-6 of itself.
          const double negligible = 1e-6 * std::abs(value) / std::abs(p[i]);
          const double analytic = sens.observable_sensitivities[j](static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(c));
          INFO("d", ms().observables()[j].name, "/d", ms().parameters()[i].name, " at t = ", times[k], ": value ",
               value, ", sensitivity ", analytic, ", central difference ", fd[k]);
          CHECK(close_relative(analytic, fd[k], 1e-4, negligible));
          if (std::max(std::abs(analytic), std::abs(fd[k])) > negligible)
            worst = std::max(worst, std::abs(analytic - fd[k]) / std::max(std::abs(analytic), std::abs(fd[k])));
          ++compared;
        }
      }
    }
  }
  CHECK(compared > 1500);
  MESSAGE("muellerschoell2021 sensitivities: ", compared, " values compared, worst relative difference ", worst);
}

TEST_CASE("muellerschoell2021: initial values are the parameters; sensitivities at t = 0 are their unit vectors") {
  auto p = ms().default_parameters();
  p[ip("tcm0")] = 0.3;
  p[ip("tum0")] = 12.0;
  OdeSolver solver(ms());
  std::vector<int> which{static_cast<int>(ip("tn0")), static_cast<int>(ip("tcm0")), static_cast<int>(ip("tum0")),
                         static_cast<int>(ip("Vmax1_ref"))};
  const auto r = solver.solve({p, {0.0, 1.0}, which, {}});
  CHECK(r.observables(0, iy("tn")) == 0.1);
  CHECK(r.observables(0, iy("tcm")) == 0.3);
  CHECK(r.observables(0, iy("cart")) == doctest::Approx(0.6).epsilon(1e-15));
  CHECK(r.observables(0, iy("tumor")) == 12.0);
  const auto& s_cart = r.observable_sensitivities[static_cast<std::size_t>(iy("cart"))];
  const auto& s_tumor = r.observable_sensitivities[static_cast<std::size_t>(iy("tumor"))];
  CHECK(s_cart(0, 0) == 1.0);
  CHECK(s_cart(0, 1) == 1.0);
  CHECK(s_cart(0, 2) == 0.0);
  CHECK(s_tumor(0, 2) == 1.0);
  CHECK(s_cart(0, 3) == 0.0);
  CHECK(s_cart(1, 3) > 0.0);  // more expansion, more CAR-T by day 1
  CHECK(!ms().accepts_doses());
}

TEST_CASE("muellerschoell2021: the shared CAR-T and tumour metrics exist and read the simulated curves") {
  std::vector<std::string> names;
  for (const auto& c : metrics::metric_columns(ms())) names.push_back(c.name);
  for (const auto* name : {"cart_cmax", "cart_tmax", "cart_auc_0_28", "tumor_nadir", "tumor_nadir_day", "tumor_day90"}) {
    INFO(name);
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  }
  for (const auto& name : names) CHECK((name.starts_with("cart_") || name.starts_with("tumor_")));

  const auto times = grid(365.0, 0.25);
  OdeSolver solver(ms());
  const auto p = ms().default_parameters();
  const auto r = solver.solve({p, times, {}, {}});
  const auto values = metrics::cart_metrics(ms(), p, r);
  const auto value = [&](std::string_view name) {
    for (const auto& m : values)
      if (m.name == name) return m.value;
    FAIL("no metric ", std::string(name));
    return 0.0;
  };
  const auto cart = column(r, "cart");
  const auto tumor = column(r, "tumor");
  const auto peak = std::max_element(cart.begin(), cart.end());
  const auto nadir = std::min_element(tumor.begin(), tumor.end());
  // The peak is refined between outputs (Hermite on the solver's dy/dt): at least the sampled maximum, within
  // one output step of its time.
  CHECK(value("cart_cmax") >= *peak);
  CHECK(value("cart_cmax") == doctest::Approx(*peak).epsilon(1e-3));
  CHECK(std::abs(value("cart_tmax") - times[static_cast<std::size_t>(peak - cart.begin())]) <= 0.25);
  CHECK(value("tumor_nadir") == *nadir);
  CHECK(value("tumor_nadir_day") == times[static_cast<std::size_t>(nadir - tumor.begin())]);
  CHECK(value("tumor_day90") == tumor[360]);
  // The reference patient (figures of the SciPy reference on the same 0.25-day grid): CAR-T peak 7.180 cells/µL
  // at day 16.25, the tumour shrinks from 85.7 to a nadir of 8.890 mL at day 72.25 and regrows once the CAR-T
  // cells are gone (16.90 mL at day 365).
  CHECK(value("cart_cmax") == doctest::Approx(7.180).epsilon(1e-3));
  CHECK(std::abs(value("cart_tmax") - 16.25) <= 0.25);  // 16.33 refined between the 0.25-day outputs
  CHECK(value("tumor_nadir") == doctest::Approx(8.890).epsilon(1e-3));
  CHECK(value("tumor_nadir_day") == 72.25);
  CHECK(tumor.back() == doctest::Approx(16.90).epsilon(1e-3));
}

TEST_CASE("muellerschoell2021: a prior ASCT raises expansion (x 3.53) and deepens the response; the CD4/CD8 ratio "
          "lowers it") {
  const auto times = grid(365.0, 0.25);
  OdeSolver solver(ms());
  const auto base = ms().default_parameters();
  auto asct = base;
  asct[ip("prior_ASCT")] = 1.0;
  auto ratio = base;
  ratio[ip("CD4CD8_ratio")] = 4.0;
  // The same patient with the expansion rate scaled as the covariate model says: identical curves.
  auto scaled = base;
  scaled[ip("Vmax1_ref")] = base[ip("Vmax1_ref")] * (1.0 + base[ip("asct_effect")]);
  auto scaled_ratio = base;
  scaled_ratio[ip("Vmax1_ref")] = base[ip("Vmax1_ref")] * std::pow(4.0, base[ip("cd4cd8_exp")]);
  const auto r0 = solver.solve({base, times, {}, {}});
  const auto r_asct = solver.solve({asct, times, {}, {}});
  const auto r_ratio = solver.solve({ratio, times, {}, {}});
  const auto r_scaled = solver.solve({scaled, times, {}, {}});
  const auto r_scaled_ratio = solver.solve({scaled_ratio, times, {}, {}});
  for (Eigen::Index k = 0; k < r0.observables.rows(); ++k)
    for (Eigen::Index j = 0; j < r0.observables.cols(); ++j) {
      CHECK(close_relative(r_asct.observables(k, j), r_scaled.observables(k, j), 1e-12, 1e-300));
      CHECK(close_relative(r_ratio.observables(k, j), r_scaled_ratio.observables(k, j), 1e-12, 1e-300));
    }
  const auto pk0 = metrics::peak(times, column(r0, "cart"));
  const auto pk_asct = metrics::peak(times, column(r_asct, "cart"));
  const auto pk_ratio = metrics::peak(times, column(r_ratio, "cart"));
  CHECK(pk_asct.value > 2.0 * pk0.value);
  CHECK(pk_asct.time_day < pk0.time_day);
  CHECK(pk_ratio.value < pk0.value);
  const auto nadir = [&](const SimulationResult& r) {
    const auto t = column(r, "tumor");
    return *std::min_element(t.begin(), t.end());
  };
  CHECK(nadir(r_asct) < 0.2 * nadir(r0));
}

TEST_CASE("muellerschoell2021: presets — reference is the defaults; low_expansion has Vmax1,base,low, no CD4/CD8 "
          "effect, and no expansion") {
  CHECK(with_preset("reference") == ms().default_parameters());
  const auto low = with_preset("low_expansion");
  CHECK(low[ip("Vmax1_ref")] == 0.000700);
  CHECK(low[ip("cd4cd8_exp")] == 0.0);
  auto low_ratio = low;
  low_ratio[ip("CD4CD8_ratio")] = 5.0;
  const auto times = grid(365.0, 1.0);
  OdeSolver solver(ms());
  const auto r = solver.solve({low, times, {}, {}});
  const auto r_ratio = solver.solve({low_ratio, times, {}, {}});
  CHECK(r.observables == r_ratio.observables);  // the ratio has no effect in the low-expansion class
  const auto cart = column(r, "cart");
  CHECK(*std::max_element(cart.begin(), cart.end()) == cart.front());  // contraction from the start
  const auto tumor = column(r, "tumor");
  CHECK(tumor.back() > tumor.front());  // the tumour escapes
}

TEST_CASE("muellerschoell2021: without tumour the CAR-T chain decays as its linear rates say; the tumour stays 0") {
  auto p = ms().default_parameters();
  p[ip("tum0")] = 0.0;
  SolverOptions tight;
  tight.rtol = 1e-11;
  tight.atol_scale = 1e-16;
  OdeSolver solver(ms(), tight);
  const auto times = grid(60.0, 5.0);
  const auto r = solver.solve({p, times, {}, {}});
  // TN' = (kp1 - k12 - ke1)·TN: TN = tn0·exp((kp1 - k12 - ke1)·t).
  const double rate = p[ip("kp1")] - p[ip("k12")] - p[ip("ke1")];
  for (std::size_t k = 0; k < times.size(); ++k) {
    const auto row = static_cast<Eigen::Index>(k);
    CHECK(close_relative(r.observables(row, iy("tn")), p[ip("tn0")] * std::exp(rate * times[k]), 1e-8));
    CHECK(r.observables(row, iy("tumor")) == 0.0);
  }
}
