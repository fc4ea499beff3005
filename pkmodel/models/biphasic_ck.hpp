#pragma once
// Empirical piecewise CAR-T cellular kinetics (../shared/spec/models.md, M1 and M1b): a flat lag, exponential
// expansion to the peak at tmax, then a biphasic decline of effector (E) and memory (M) transgene levels.
// stein2019 is this model with tlag ≡ 0; lag_expansion makes tlag a parameter.
#include <array>
#include <cmath>
#include <string>
#include <utility>

#include "pkmodel/model.hpp"
#include "pkmodel/specs.hpp"

namespace cartpk::models {

inline constexpr std::string_view kStein2019Source =
    "Stein AM et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285-295, Table 1 (typical value; "
    "omega^2 of the log parameter as entered in nlmixr2lib Stein_2019_Tisagenlecleucel)";

inline constexpr std::array<ParameterSpec, 7> kBiphasicParameters{{
    {"foldx", "-", 3900.0, 1.0, 1e7, Domain::positive, "fold expansion from baseline to Cmax",
     kStein2019Source, 2.4},
    {"tmax", "day", 9.3, 0.5, 60.0, Domain::positive, "time of peak", kStein2019Source, 0.38},
    {"cmax", "copies/µg", 24000.0, 1.0, 1e7, Domain::positive, "peak transgene level", kStein2019Source, 0.65},
    {"alpha", "1/day", 0.16, 1e-3, 10.0, Domain::positive, "fast contraction rate", kStein2019Source, 0.91},
    {"fb", "-", 0.0079, 1e-6, 0.999, Domain::fraction, "fraction of the peak entering slow decline",
     kStein2019Source, 0.8},
    {"beta", "1/day", 0.0032, 1e-6, 1.0, Domain::positive, "slow (memory) decline rate", kStein2019Source, 0.86},
    {"kcp", "(copies/µg)/(cells/µL)", 300.0, 1.0, 1e5, Domain::positive,
     "qPCR copies/µg per CAR+ cell/µL (flow = qpcr/kcp)",
     "cartpk spec v1 convention; fixed unless estimated from paired qPCR and flow data"},
}};

inline constexpr ParameterSpec kTlagSpec{
    "tlag", "day", 0.0, 0.0, 30.0, Domain::nonnegative, "lag before expansion starts",
    "cartpk spec v1 (M1b, liso-cel-type CK); 0 reduces the model to stein2019"};

inline constexpr std::array<VariableSpec, 2> kBiphasicStates{{
    {"E", "copies/µg", "effector CAR-T transgene level", 1e3},
    {"M", "copies/µg", "memory CAR-T transgene level", 1e2},
}};

inline constexpr std::array<VariableSpec, 2> kBiphasicObservables{{
    {"qpcr", "copies/µg", "CAR transgene copies per µg genomic DNA", 1.0, Role::transgene},
    {"flow", "cells/µL", "CAR+ cells per µL blood (qpcr/kcp)", 1.0, Role::car_t},
}};

// The equations, shared by both models. Table order is the same in both (tlag appended last in M1b).
template <bool kWithLag>
struct BiphasicCk {
  static constexpr int foldx = index_of(kBiphasicParameters, "foldx");
  static constexpr int tmax = index_of(kBiphasicParameters, "tmax");
  static constexpr int cmax = index_of(kBiphasicParameters, "cmax");
  static constexpr int alpha = index_of(kBiphasicParameters, "alpha");
  static constexpr int fb = index_of(kBiphasicParameters, "fb");
  static constexpr int beta = index_of(kBiphasicParameters, "beta");
  static constexpr int kcp = index_of(kBiphasicParameters, "kcp");
  static constexpr int tlag = static_cast<int>(kBiphasicParameters.size());  // only when kWithLag
  static constexpr int E = index_of(kBiphasicStates, "E");
  static constexpr int M = index_of(kBiphasicStates, "M");
  static constexpr int kQpcr = index_of(kBiphasicObservables, "qpcr");
  static constexpr int kFlow = index_of(kBiphasicObservables, "flow");

  static constexpr std::array<VariableSpec, 2> kStates = kBiphasicStates;
  static constexpr std::array<VariableSpec, 2> kObservables = kBiphasicObservables;

  // Before the infusion (t < 0) the level is the baseline R0 = cmax/foldx, the initial state (the closed form too).
  static constexpr bool kDefinedBeforeInfusion = true;

  enum Event : int { kGrowthStart = 0, kPeak = 1 };
  static constexpr int kEvents = 2;

  template <class T>
  static T lag(const T* p) {
    if constexpr (kWithLag) return p[tlag];
    else return T(0.0);
  }
  template <class T>
  static T growth_rate(const T* p) {  // rho = ln(foldx)/(tmax - tlag)
    using std::log;
    return log(p[foldx]) / (p[tmax] - lag(p));
  }

  // The biexponential tail is symmetric under (alpha, beta, fb) -> (beta, alpha, 1 - fb): the same curve. The
  // canonical labelling is the published one, fast contraction (alpha) then slow persistence (beta).
  static bool canonicalize(double* p) {
    if (p[alpha] >= p[beta]) return false;
    std::swap(p[alpha], p[beta]);
    p[fb] = 1.0 - p[fb];
    return true;
  }

  static std::string check(const double* p) {
    if (lag(p) >= p[tmax])
      return "tlag = " + std::to_string(lag(p)) + " day must be below tmax = " + std::to_string(p[tmax]) +
             " day (growth runs from tlag to tmax)";
    return {};
  }

  template <class T>
  static void initial_state(const T* p, T* x) {
    x[E] = p[cmax] / p[foldx];  // R0
    x[M] = T(0.0);
  }

  template <class T>
  static void rhs(Regime regime, double /*t*/, const T* x, const T* p, T* f) {
    if (regime.after(kPeak)) {
      f[E] = -p[alpha] * x[E];
      f[M] = -p[beta] * x[M];
    } else {
      f[E] = regime.after(kGrowthStart) ? growth_rate(p) * x[E] : T(0.0);
      f[M] = T(0.0);
    }
  }

  template <class T>
  static T event_time(int event, const T* p) {
    return event == kGrowthStart ? lag(p) : p[tmax];
  }

  template <class T>
  static void apply_event(int event, const T* p, T* x) {
    if (event != kPeak) return;  // growth start only switches the right-hand side
    x[E] = (1.0 - p[fb]) * p[cmax];
    x[M] = p[fb] * p[cmax];
  }

  template <class T>
  static void observables(double /*t*/, const T* x, const T* p, T* y) {
    y[kQpcr] = x[E] + x[M];
    y[kFlow] = (x[E] + x[M]) / p[kcp];
  }

  template <class T>
  static void closed_form(double t, const T* p, T* x) {
    using std::exp;
    const T r0 = p[cmax] / p[foldx];
    if (t < value_of(lag(p))) {
      x[E] = r0;
      x[M] = T(0.0);
    } else if (t < value_of(p[tmax])) {
      x[E] = r0 * exp(growth_rate(p) * (t - lag(p)));
      x[M] = T(0.0);
    } else {
      x[E] = (1.0 - p[fb]) * p[cmax] * exp(-p[alpha] * (t - p[tmax]));
      x[M] = p[fb] * p[cmax] * exp(-p[beta] * (t - p[tmax]));
    }
  }
};

}  // namespace cartpk::models
