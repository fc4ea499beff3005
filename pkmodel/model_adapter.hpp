#pragma once
// Turns a model's equations, written once as templates over the scalar type, into the Model interface.
// Value calls run on double; tangent calls run the same code on Dual (pkmodel/dual.hpp).
#include <algorithm>
#include <array>
#include <memory>
#include <span>
#include <string>

#include "pkmodel/dual.hpp"
#include "pkmodel/dual_n.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/fast_integrator.hpp"
#include "pkmodel/model.hpp"

namespace cartpk {

template <class Eq>
class ModelAdapter final : public Model {
  static constexpr std::size_t kNx = Eq::kStates.size();
  static constexpr std::size_t kNp = Eq::kParameters.size();
  static constexpr std::size_t kNy = Eq::kObservables.size();
  // A name in a preset or the default estimates that the parameter table lacks fails the build here.
  static constexpr bool names_known() {
    if constexpr (requires { Eq::kPresets; }) presets_name_parameters(Eq::kPresets, Eq::kParameters);
    for (std::string_view name : Eq::kDefaultEstimated) (void)index_of(Eq::kParameters, name);
    return true;
  }
  static_assert(names_known());

  using DualX = std::array<Dual, kNx>;
  using DualP = std::array<Dual, kNp>;

  static DualP seed_p(const double* p, const double* dp) {
    DualP out{};
    for (std::size_t i = 0; i < kNp; ++i) out[i] = Dual(p[i], dp ? dp[i] : 0.0);
    return out;
  }
  static DualX seed_x(const double* x, const double* dx) {
    DualX out{};
    for (std::size_t i = 0; i < kNx; ++i) out[i] = Dual(x[i], dx ? dx[i] : 0.0);
    return out;
  }
  template <std::size_t N>
  static void unseed(const std::array<Dual, N>& in, double* v, double* d) {
    for (std::size_t i = 0; i < N; ++i) {
      v[i] = in[i].v;
      d[i] = in[i].d;
    }
  }

  // Many directions at once, in chunks of up to kChunk: direction c of a chunk is ∂/∂p[which[c]], with the state
  // tangents taken from column c of S (when given). A chunk is as narrow as its directions allow (2, 3, 4, 6 or 8), so a
  // fit of three parameters does not carry eight tangents through the equations.
  static constexpr std::size_t kChunk = 8;
  template <std::size_t W>
  static std::array<DualN<W>, kNp> seed_p_chunk(const double* p, std::span<const int> which) {
    std::array<DualN<W>, kNp> out;  // tangents start at zero (DualN's default); zeroed once, not twice
    for (std::size_t i = 0; i < kNp; ++i) out[i].v = p[i];
    for (std::size_t c = 0; c < which.size(); ++c) out[static_cast<std::size_t>(which[c])].d[c] = 1.0;
    return out;
  }
  template <std::size_t W, std::size_t N>
  static void unseed_chunk(const std::array<DualN<W>, N>& in, std::size_t directions, double* v, double* S) {
    for (std::size_t i = 0; i < N; ++i) {
      v[i] = in[i].v;
      for (std::size_t c = 0; c < directions; ++c) S[c * N + i] = in[i].d[c];
    }
  }
  // pass.template operator()<W>(which_chunk, column offset) for each chunk of `which`, W the chunk's dual width.
  template <class Pass>
  static void by_chunks(std::span<const int> which, Pass pass) {
    for (std::size_t first = 0; first < which.size(); first += kChunk) {
      const auto chunk = which.subspan(first, std::min(kChunk, which.size() - first));
      if (chunk.size() <= 2) pass.template operator()<2>(chunk, first);
      else if (chunk.size() == 3) pass.template operator()<3>(chunk, first);
      else if (chunk.size() == 4) pass.template operator()<4>(chunk, first);
      else if (chunk.size() <= 6) pass.template operator()<6>(chunk, first);
      else pass.template operator()<kChunk>(chunk, first);
    }
  }

  // x_after = g(x, p) for an in-place jump `apply(p, x)`, with its tangent when dx_after is wanted.
  template <class Apply>
  static void jump(const double* x, const double* dx, const double* p, const double* dp, double* x_after,
                   double* dx_after, Apply apply) {
    if (!dx_after) {
      for (std::size_t i = 0; i < kNx; ++i) x_after[i] = x[i];
      return apply(p, x_after);
    }
    auto xd = seed_x(x, dx);
    auto pd = seed_p(p, dp);
    apply(static_cast<const Dual*>(pd.data()), xd.data());
    unseed(xd, x_after, dx_after);
  }

 public:
  [[nodiscard]] std::string_view name() const override { return Eq::kName; }
  [[nodiscard]] std::string_view description() const override { return Eq::kDescription; }
  [[nodiscard]] std::string_view source() const override { return Eq::kSource; }
  [[nodiscard]] std::span<const ParameterSpec> parameters() const override { return Eq::kParameters; }
  [[nodiscard]] std::span<const VariableSpec> states() const override { return Eq::kStates; }
  [[nodiscard]] std::span<const VariableSpec> observables() const override { return Eq::kObservables; }
  [[nodiscard]] std::span<const std::string_view> default_estimated() const override { return Eq::kDefaultEstimated; }
  bool canonicalize(std::span<double> p) const override {
    if constexpr (requires { Eq::canonicalize(p.data()); }) return Eq::canonicalize(p.data());
    else return false;
  }
  [[nodiscard]] std::span<const Preset> presets() const override {
    if constexpr (requires { Eq::kPresets; }) return Eq::kPresets;
    else return {};
  }

  [[nodiscard]] std::string check_parameters(std::span<const double> p) const override {
    if constexpr (requires { Eq::check(p.data()); }) return Eq::check(p.data());
    else return {};
  }

  void initial_state(const double* p, const double* dp, double* x, double* dx) const override {
    if (!dx) return Eq::initial_state(p, x);
    auto pd = seed_p(p, dp);
    DualX xd{};
    Eq::initial_state(pd.data(), xd.data());
    unseed(xd, x, dx);
  }

  void rhs(Regime regime, double t, const double* x, const double* dx, const double* p, const double* dp,
           double* f, double* df) const override {
    if (!df) return Eq::rhs(regime, t, x, p, f);
    auto xd = seed_x(x, dx);
    auto pd = seed_p(p, dp);
    DualX fd{};
    Eq::rhs(regime, t, xd.data(), pd.data(), fd.data());
    unseed(fd, f, df);
  }

  void observables(double t, const double* x, const double* dx, const double* p, const double* dp, double* y,
                   double* dy) const override {
    if (!dy) return Eq::observables(t, x, p, y);
    auto xd = seed_x(x, dx);
    auto pd = seed_p(p, dp);
    std::array<Dual, kNy> yd{};
    Eq::observables(t, xd.data(), pd.data(), yd.data());
    unseed(yd, y, dy);
  }

  void observable_sensitivities(double t, const double* x, const double* S, const double* p,
                                std::span<const int> which, double* y, double* Sy) const override {
    Eq::observables(t, x, p, y);
    by_chunks(which, [&]<std::size_t W>(std::span<const int> chunk, std::size_t first) {
      auto pd = seed_p_chunk<W>(p, chunk);
      std::array<DualN<W>, kNx> xd;
      for (std::size_t i = 0; i < kNx; ++i) {
        xd[i].v = x[i];
        for (std::size_t c = 0; c < chunk.size(); ++c) xd[i].d[c] = S[(first + c) * kNx + i];
      }
      std::array<DualN<W>, kNy> yd;
      Eq::observables(t, xd.data(), pd.data(), yd.data());
      std::array<double, kNy> ignored{};
      unseed_chunk(yd, chunk.size(), ignored.data(), Sy + first * kNy);
    });
  }

  [[nodiscard]] int n_events() const override {
    if constexpr (requires { Eq::kEvents; }) return Eq::kEvents;
    else return 0;
  }

  void event_time(int event, const double* p, const double* dp, double* t, double* dt) const override {
    if constexpr (requires { Eq::kEvents; }) {
      if (!dt) { *t = Eq::event_time(event, p); return; }
      auto pd = seed_p(p, dp);
      const Dual td = Eq::event_time(event, pd.data());
      *t = td.v;
      *dt = td.d;
    } else {
      throw ModelError(std::string(Eq::kName), "event_time called on a model without events");
    }
  }

  void apply_event(int event, const double* x, const double* dx, const double* p, const double* dp,
                   double* x_after, double* dx_after) const override {
    if constexpr (requires { Eq::kEvents; }) {
      jump(x, dx, p, dp, x_after, dx_after, [event](const auto* pp, auto* xx) { Eq::apply_event(event, pp, xx); });
    } else {
      throw ModelError(std::string(Eq::kName), "apply_event called on a model without events");
    }
  }

  // A model whose course before the infusion is its initial state says so: static constexpr bool
  // kDefinedBeforeInfusion = true. Without it, the model starts at the infusion.
  [[nodiscard]] bool defined_before_infusion() const override {
    if constexpr (requires { Eq::kDefinedBeforeInfusion; }) return Eq::kDefinedBeforeInfusion;
    else return false;
  }

  // A model that takes dose records states the state they enter (kDoseState) and the conversion of a dose to that
  // state's units (dose_amount); the engine adds it there (or to the record's CMT), as a bolus or an infusion.
  [[nodiscard]] bool accepts_doses() const override { return requires { Eq::kDoseState; }; }
  [[nodiscard]] int dose_state() const override {
    if constexpr (requires { Eq::kDoseState; }) return Eq::kDoseState;
    else return -1;
  }

  void apply_dose(const DoseRecord& dose, const double* x, const double* dx, const double* p, const double* dp,
                  double* x_after, double* dx_after) const override {
    if constexpr (requires { Eq::kDoseState; }) {
      const int state = dose.compartment >= 0 ? dose.compartment : Eq::kDoseState;
      if (state >= static_cast<int>(kNx))
        throw ModelError(std::string(Eq::kName), "dose into state " + std::to_string(state) + ", which does not exist");
      jump(x, dx, p, dp, x_after, dx_after,
           [&dose, state](const auto* pp, auto* xx) { xx[state] += Eq::dose_amount(dose, pp); });
    } else {
      throw ModelError(std::string(Eq::kName), "this model takes no dose records (its dose is a parameter)");
    }
  }

  [[nodiscard]] std::unique_ptr<FastIntegrator> make_fast_integrator() const override {
    return std::make_unique<Dopri5Integrator<Eq>>();
  }

  [[nodiscard]] bool has_closed_form() const override {
    return requires { &Eq::template closed_form<double>; };
  }

  void closed_form_sensitivities(std::span<const double> times, const double* p, std::span<const int> which,
                                 double* states, double* observables, double* const* state_sensitivities,
                                 double* const* observable_sensitivities) const override {
    if constexpr (requires { &Eq::template closed_form<double>; }) {
      if (which.empty()) return closed_form_series(times, p, states, observables);
      const std::size_t n = times.size();
      by_chunks(which, [&]<std::size_t W>(std::span<const int> chunk, std::size_t first) {  // values ride along
        const auto pd = seed_p_chunk<W>(p, chunk);  // a local copy: what depends on p alone is hoisted out of the loop
        for (std::size_t k = 0; k < n; ++k) {
          std::array<DualN<W>, kNx> xd;
          Eq::closed_form(times[k], pd.data(), xd.data());
          std::array<DualN<W>, kNy> yd;
          Eq::observables(times[k], xd.data(), pd.data(), yd.data());
          for (std::size_t i = 0; i < kNx; ++i) {
            states[i * n + k] = xd[i].v;
            for (std::size_t c = 0; c < chunk.size(); ++c) state_sensitivities[i][(first + c) * n + k] = xd[i].d[c];
          }
          for (std::size_t j = 0; j < kNy; ++j) {
            observables[j * n + k] = yd[j].v;
            for (std::size_t c = 0; c < chunk.size(); ++c)
              observable_sensitivities[j][(first + c) * n + k] = yd[j].d[c];
          }
        }
      });
    } else {
      throw ModelError(std::string(Eq::kName), "this model has no closed-form solution");
    }
  }

  void closed_form_series(std::span<const double> times, const double* p, double* states,
                          double* observables) const override {
    if constexpr (requires { &Eq::template closed_form<double>; }) {
      std::array<double, kNp> pc;  // a copy: the stores below cannot alias it, so what depends on p alone is hoisted
      std::copy_n(p, kNp, pc.begin());
      const std::size_t n = times.size();
      for (std::size_t k = 0; k < n; ++k) {
        std::array<double, kNx> x;
        std::array<double, kNy> y;
        Eq::closed_form(times[k], pc.data(), x.data());
        Eq::observables(times[k], x.data(), pc.data(), y.data());
        for (std::size_t i = 0; i < kNx; ++i) states[i * n + k] = x[i];
        for (std::size_t j = 0; j < kNy; ++j) observables[j * n + k] = y[j];
      }
    } else {
      throw ModelError(std::string(Eq::kName), "this model has no closed-form solution");
    }
  }

  void closed_form(double t, const double* p, const double* dp, double* x, double* dx) const override {
    if constexpr (requires { &Eq::template closed_form<double>; }) {
      if (!dx) return Eq::closed_form(t, p, x);
      auto pd = seed_p(p, dp);
      DualX xd{};
      Eq::closed_form(t, pd.data(), xd.data());
      unseed(xd, x, dx);
    } else {
      throw ModelError(std::string(Eq::kName), "this model has no closed-form solution");
    }
  }
};

}  // namespace cartpk
