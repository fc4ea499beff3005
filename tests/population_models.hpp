#pragma once
// Small models for testing the population methods, kept in tests/ (not in the model registry):
// - OneCompartmentBolus: Wang (2007)'s example, C = c0·exp(−ke·t), for the published FOCE-I objective values.
// - LinearGrowth: y = intercept + slope·t with real-valued (identity-transformed) parameters, so that with an
//   additive error the data are exactly Gaussian-linear in η and FOCE-I equals the exact marginal likelihood.
#include <array>
#include <string_view>

#include "fitting/population_setup.hpp"
#include "pkmodel/model_adapter.hpp"

namespace cartpk::testing {

struct OneCompartmentBolus {
  static constexpr std::string_view kName = "wang2007_1cpt";
  static constexpr std::string_view kSource = "Wang Y, J Pharmacokinet Pharmacodyn 2007;34:575-593";
  static constexpr std::string_view kDescription = "one-compartment bolus, C = c0·exp(−ke·t)";
  static constexpr std::array<ParameterSpec, 2> kParameters{{
      {"ke", "1/h", 0.5, 1e-4, 100.0, Domain::positive, "elimination rate", kSource},
      {"c0", "mg/L", 10.0, 1e-3, 1e4, Domain::positive, "concentration after the bolus", kSource},
  }};
  // AUC rides along as a second state (it keeps every integrator's fixed-size paths to row vectors > 1).
  static constexpr std::array<VariableSpec, 2> kStates{{{"C", "mg/L", "concentration", 1.0},
                                                        {"AUC", "mg·h/L", "area under the curve", 1.0}}};
  static constexpr std::array<VariableSpec, 1> kObservables{{{"conc", "mg/L", "concentration", 1.0}}};
  static constexpr std::array<std::string_view, 1> kDefaultEstimated{"ke"};
  template <class T>
  static void initial_state(const T* p, T* x) { x[0] = p[1]; x[1] = T(0.0); }
  template <class T>
  static void rhs(Regime, double, const T* x, const T* p, T* f) { f[0] = -p[0] * x[0]; f[1] = x[0]; }
  template <class T>
  static void observables(double, const T* x, const T*, T* y) { y[0] = x[0]; }
  template <class T>
  static void closed_form(double t, const T* p, T* x) {
    using std::exp;
    x[0] = p[1] * exp(-p[0] * t);
    x[1] = p[1] * (1.0 - exp(-p[0] * t)) / p[0];
  }
};

struct LinearGrowth {
  static constexpr std::string_view kName = "linear_growth";
  static constexpr std::string_view kSource = "test model";
  static constexpr std::string_view kDescription = "y = intercept + slope·t";
  static constexpr std::array<ParameterSpec, 2> kParameters{{
      {"intercept", "-", 5.0, -1e3, 1e3, Domain::real, "value at t = 0", kSource},
      {"slope", "1/day", 1.0, -1e3, 1e3, Domain::real, "change per day", kSource},
  }};
  static constexpr std::array<VariableSpec, 2> kStates{{{"X", "-", "level", 1.0}, {"T", "day", "time elapsed", 1.0}}};
  static constexpr std::array<VariableSpec, 1> kObservables{{{"y", "-", "level", 1.0}}};
  static constexpr std::array<std::string_view, 2> kDefaultEstimated{"intercept", "slope"};
  template <class T>
  static void initial_state(const T* p, T* x) { x[0] = p[0]; x[1] = T(0.0); }
  template <class T>
  static void rhs(Regime, double, const T*, const T* p, T* f) { f[0] = p[1]; f[1] = T(1.0); }
  template <class T>
  static void observables(double, const T* x, const T*, T* y) { y[0] = x[0]; }
  template <class T>
  static void closed_form(double t, const T* p, T* x) { x[0] = p[0] + p[1] * t; x[1] = T(t); }
};

// LinearGrowth's population of the tests: y_ij = (a + η_a) + (b + η_b)·t_j + ε, a = 4.6, b = 1.2, additive SD
// 0.45, Ω = [[0.5, 0.1], [0.1, 0.12]] (full), so the exact marginal is N(X·θ, X·Ω·Xᵀ + σ²·I).
inline fitting::PopulationSetup linear_setup(const Model& model) {
  fitting::PopulationSetup setup;
  setup.base = fitting::default_setup(model, "closed");
  setup.base.parameters = {4.6, 1.2};
  setup.base.error_models[0] = fitting::ErrorModel{fitting::ErrorType::additive, 0.45, 0.0, true};
  setup.random_effects = {0, 1};
  setup.omega_full = true;
  setup.omega.resize(2, 2);
  setup.omega << 0.5, 0.1, 0.1, 0.12;
  return setup;
}

}  // namespace cartpk::testing
