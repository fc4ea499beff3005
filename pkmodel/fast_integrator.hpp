#pragma once
// The compile-time-sized explicit integrator for small models: Dormand–Prince 5(4) (Hairer's DOPRI5: FSAL, PI
// step-size control, 4th-order dense output for output times, stiffness detection by the estimate h·|λ| of the
// dominant eigenvalue from the last two stages). One instance per OdeSolver workspace, made by the model
// (ModelAdapter<Eq>) so the state count and the equations are known at compile time: fixed-size Eigen arithmetic,
// no virtual call, no allocation per step. The OdeSolver drives it between solver stops (doses, infusion
// switches, model events): it never steps past `t_stop`, lands on it exactly, and hands the solve over to CVODES
// BDF when it reports stiffness or failure (pkmodel/ode_solver.cpp; docs/solver.md).
//
// Forward sensitivities are integrated together with the state: column 0 of the working matrix is x, column
// 1 + s is ∂x/∂p_{which[s]}, and their right-hand sides f and J·s + ∂f/∂p come out of one pass of the model's
// equations on multi-direction dual numbers (8 directions per pass). Sensitivities take part in the error test
// with absolute tolerances atol/pbar (as CVODES' CVodeSensEEtolerances); the error is the largest per-column
// weighted RMS norm.
#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>

#include "pkmodel/dual_n.hpp"
#include "pkmodel/model.hpp"

namespace cartpk {

enum class RkStatus {
  reached,  // the state at t_out is written
  stiff,    // stiffness detected: hand over at step_time()
  failed,   // step size underflow, non-finite right-hand side or too many steps: hand over at step_time()
};

struct RkCounters {
  long steps = 0;
  long rhs_evaluations = 0;
  long rejected = 0;
};

// What the OdeSolver sees (one virtual call per output or stop, none per step).
class FastIntegrator {
 public:
  virtual ~FastIntegrator() = default;
  // Once per solve. p, which (the sensitivity parameters, at most as many as the model has parameters) and pbar
  // (their scales, |p| or 1) must outlive the solve; atol has one entry per state.
  virtual void configure(const double* p, std::span<const int> which, const double* pbar, double rtol,
                         const double* atol, double max_step, long max_steps) = 0;
  // A new course from (t, x, S) in regime `regime` (after the start, a dose, an event or an infusion switch), with a
  // constant input added to the right-hand side (nx; nullptr: none) and its parameter derivatives (nx × ns).
  // S is n_states × n_sensitivities, column-major.
  virtual void restart(Regime regime, double t, const double* x, const double* S, const double* input,
                       const double* input_sens) = 0;
  // Steps until t_out (t_out <= t_stop; never stepping past t_stop), then writes x and S at t_out.
  virtual RkStatus advance(double t_out, double t_stop, double* x, double* S) = 0;
  // The end of the last accepted step and the solution there: where CVODES takes over.
  [[nodiscard]] virtual double step_time() const = 0;
  virtual void step_state(double* x, double* S) const = 0;
  [[nodiscard]] virtual const RkCounters& counters() const = 0;
  virtual void reset_counters() = 0;
};

namespace dopri5 {
// Dormand & Prince (1980), with Hairer's dense output (Hairer, Nørsett & Wanner, Solving ODEs I, II.6; dopri5.f).
inline constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
inline constexpr double a21 = 1.0 / 5;
inline constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
inline constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
inline constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
inline constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                        a65 = -5103.0 / 18656;
inline constexpr double a71 = 35.0 / 384, a73 = 500.0 / 1113, a74 = 125.0 / 192, a75 = -2187.0 / 6784,
                        a76 = 11.0 / 84;
inline constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200,
                        e6 = 22.0 / 525, e7 = -1.0 / 40;
inline constexpr double d1 = -12715105075.0 / 11282082432, d3 = 87487479700.0 / 32700410799,
                        d4 = -10690763975.0 / 1880347072, d5 = 701980252875.0 / 199316789632,
                        d6 = -1453857185.0 / 822651844, d7 = 69997945.0 / 29380423;
// Step-size control (dopri5.f defaults): safety factor, PI exponent beta, bounds on the change per step.
inline constexpr double kSafety = 0.9, kBeta = 0.04, kFacMin = 0.2, kFacMax = 10.0;
// Stiffness: h·|λ| beyond DOPRI5's stability boundary on 15 accepted steps (6 steps below it clear the count).
inline constexpr double kStabilityBoundary = 3.25;
inline constexpr int kStiffSteps = 15, kNonStiffSteps = 6;
}  // namespace dopri5

template <class Eq>
class Dopri5Integrator final : public FastIntegrator {
  static constexpr int kNx = static_cast<int>(Eq::kStates.size());
  static constexpr int kNp = static_cast<int>(Eq::kParameters.size());
  static constexpr std::size_t kChunk = 8;  // sensitivity directions per dual pass
  static constexpr int kNChunks = (kNp + static_cast<int>(kChunk) - 1) / static_cast<int>(kChunk);
  using Chunk = DualN<kChunk>;
  // Column 0: the state; column 1 + s: its sensitivity to parameter which[s]. Fixed rows, at most 1 + kNp columns:
  // storage inside the object, never on the heap.
  using Mat = Eigen::Matrix<double, kNx, Eigen::Dynamic, Eigen::ColMajor, kNx, kNp + 1>;
  using Vec = Eigen::Matrix<double, kNx, 1>;

 public:
  Dopri5Integrator() = default;

  void configure(const double* p, std::span<const int> which, const double* pbar, double rtol, const double* atol,
                 double max_step, long max_steps) override {
    p_ = p;
    ns_ = static_cast<int>(which.size());
    cols_ = 1 + ns_;
    rtol_ = rtol;
    for (int i = 0; i < kNx; ++i) atol_(i) = atol[i];
    inv_pbar_.fill(1.0);
    for (int s = 0; s < ns_; ++s) inv_pbar_[static_cast<std::size_t>(s + 1)] = 1.0 / pbar[s];
    max_step_ = max_step > 0.0 ? max_step : std::numeric_limits<double>::infinity();
    max_steps_ = max_steps;
    // The parameters as dual numbers, seeded once per solve: chunk k carries directions which[8k .. 8k+7].
    n_chunks_ = (ns_ + static_cast<int>(kChunk) - 1) / static_cast<int>(kChunk);
    for (int k = 0; k < n_chunks_; ++k) {
      auto& pd = p_chunks_[static_cast<std::size_t>(k)];
      for (int i = 0; i < kNp; ++i) pd[static_cast<std::size_t>(i)] = Chunk(p[i]);
      for (int c = 0; c < chunk_size(k); ++c)
        pd[static_cast<std::size_t>(which[static_cast<std::size_t>(k * static_cast<int>(kChunk) + c)])]
            .d[static_cast<std::size_t>(c)] = 1.0;
    }
    for (auto* m : {&z_, &z_old_, &z_new_, &k1_, &k1_old_, &k2_, &k3_, &k4_, &k5_, &k6_, &k7_, &stage_, &input_})
      m->resize(kNx, cols_);
  }

  void restart(Regime regime, double t, const double* x, const double* S, const double* input,
               const double* input_sens) override {
    regime_ = regime;
    t_ = t_old_ = t;
    for (int i = 0; i < kNx; ++i) z_(i, 0) = x[i];
    for (int s = 0; s < ns_; ++s)
      for (int i = 0; i < kNx; ++i) z_(i, s + 1) = S[s * kNx + i];
    has_input_ = input != nullptr;
    if (has_input_) {
      for (int i = 0; i < kNx; ++i) input_(i, 0) = input[i];
      for (int s = 0; s < ns_; ++s)
        for (int i = 0; i < kNx; ++i) input_(i, s + 1) = input_sens ? input_sens[s * kNx + i] : 0.0;
    }
    z_old_ = z_;
    stiff_count_ = non_stiff_count_ = 0;
    stiff_ = false;
    err_old_ = 1e-4;
    last_rejected_ = false;
    fresh_ = true;  // k1 and the first step size are computed when the first step is taken
  }

  RkStatus advance(double t_out, double t_stop, double* x, double* S) override {
    long steps_here = 0;
    while (t_ < t_out) {
      if (stiff_) return RkStatus::stiff;
      if (fresh_) {
        if (!eval(t_, z_, k1_)) return RkStatus::failed;
        h_ = initial_step(t_stop - t_);
        fresh_ = false;
      }
      if (++steps_here > max_steps_) return RkStatus::failed;
      if (!step(t_stop)) return RkStatus::failed;
    }
    write_at(t_out, x, S);
    return RkStatus::reached;
  }

  [[nodiscard]] double step_time() const override { return t_; }
  void step_state(double* x, double* S) const override {
    for (int i = 0; i < kNx; ++i) x[i] = z_(i, 0);
    for (int s = 0; s < ns_; ++s)
      for (int i = 0; i < kNx; ++i) S[s * kNx + i] = z_(i, s + 1);
  }
  [[nodiscard]] const RkCounters& counters() const override { return counters_; }
  void reset_counters() override { counters_ = RkCounters{}; }

 private:
  [[nodiscard]] int chunk_size(int k) const { return std::min(static_cast<int>(kChunk), ns_ - k * static_cast<int>(kChunk)); }

  // F = the right-hand side of the state (column 0) and of every sensitivity; false when not finite.
  bool eval(double t, const Mat& Z, Mat& F) {
    ++counters_.rhs_evaluations;
    if (ns_ == 0) {
      std::array<double, kNx> xv, fv;
      for (int i = 0; i < kNx; ++i) xv[static_cast<std::size_t>(i)] = Z(i, 0);
      Eq::rhs(regime_, t, xv.data(), p_, fv.data());
      for (int i = 0; i < kNx; ++i) F(i, 0) = fv[static_cast<std::size_t>(i)];
    } else {
      for (int k = 0; k < n_chunks_; ++k) {
        const int first = k * static_cast<int>(kChunk), n = chunk_size(k);
        std::array<Chunk, kNx> xd, fd;
        for (int i = 0; i < kNx; ++i) {
          auto& xi = xd[static_cast<std::size_t>(i)];
          xi.v = Z(i, 0);
          for (int c = 0; c < n; ++c) xi.d[static_cast<std::size_t>(c)] = Z(i, 1 + first + c);
        }
        Eq::rhs(regime_, t, xd.data(), p_chunks_[static_cast<std::size_t>(k)].data(), fd.data());
        for (int i = 0; i < kNx; ++i) {
          const auto& fi = fd[static_cast<std::size_t>(i)];
          F(i, 0) = fi.v;
          for (int c = 0; c < n; ++c) F(i, 1 + first + c) = fi.d[static_cast<std::size_t>(c)];
        }
      }
    }
    if (has_input_) F += input_;
    return F.allFinite();
  }

  // Weighted RMS norm of E per column (state and each sensitivity), the largest of them.
  [[nodiscard]] double error_norm(const Mat& E, const Mat& Za, const Mat& Zb) const {
    double worst = 0.0;
    for (int c = 0; c < cols_; ++c) {
      const Vec scale = atol_ * inv_pbar_[static_cast<std::size_t>(c)] +
                        rtol_ * Za.col(c).cwiseAbs().cwiseMax(Zb.col(c).cwiseAbs());
      worst = std::max(worst, (E.col(c).array() / scale.array()).square().sum() / kNx);
    }
    return std::sqrt(worst);
  }

  // Hairer's starting step (hinit in dopri5.f): from the sizes of x, f and an estimate of f'.
  double initial_step(double span) {
    const double d0 = error_norm(z_, z_, z_), d1 = error_norm(k1_, z_, z_);
    double h0 = (d0 < 1e-10 || d1 < 1e-10) ? 1e-6 : 0.01 * d0 / d1;
    h0 = std::min({h0, max_step_, span});
    stage_ = z_ + h0 * k1_;
    if (!eval(t_ + h0, stage_, k2_)) return std::max(1e-6 * h0, 1e-12);
    const double d2 = error_norm(k2_ - k1_, z_, z_) / h0;
    const double dmax = std::max(std::abs(d1), std::abs(d2));
    const double h1 = dmax <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / dmax, 0.2);
    return std::min({100.0 * h0, h1, max_step_, span});
  }

  // One attempted step; false when the step size underflows.
  bool step(double t_stop) {
    using namespace dopri5;
    for (;;) {
      double h = std::min(h_, max_step_);
      bool lands = false;
      if (t_ + h >= t_stop - 1e-12 * std::max(1.0, std::abs(t_stop)) || t_ + 1.01 * h >= t_stop) {
        h = t_stop - t_;
        lands = true;
      }
      if (!(h > 1e-14 * std::max(1.0, std::abs(t_)))) return false;
      bool finite = true;
      stage_ = z_ + h * a21 * k1_;
      finite = finite && eval(t_ + c2 * h, stage_, k2_);
      stage_ = z_ + h * (a31 * k1_ + a32 * k2_);
      finite = finite && eval(t_ + c3 * h, stage_, k3_);
      stage_ = z_ + h * (a41 * k1_ + a42 * k2_ + a43 * k3_);
      finite = finite && eval(t_ + c4 * h, stage_, k4_);
      stage_ = z_ + h * (a51 * k1_ + a52 * k2_ + a53 * k3_ + a54 * k4_);
      finite = finite && eval(t_ + c5 * h, stage_, k5_);
      stage_ = z_ + h * (a61 * k1_ + a62 * k2_ + a63 * k3_ + a64 * k4_ + a65 * k5_);  // the argument of k6
      finite = finite && eval(t_ + h, stage_, k6_);
      z_new_ = z_ + h * (a71 * k1_ + a73 * k3_ + a74 * k4_ + a75 * k5_ + a76 * k6_);
      const double t_new = lands ? t_stop : t_ + h;
      finite = finite && eval(t_new, z_new_, k7_);
      if (!finite) {  // outside the model's domain: retry smaller, like CVODE on a recoverable failure
        ++counters_.rejected;
        h_ = 0.25 * h;
        last_rejected_ = true;
        continue;
      }
      const double err =
          error_norm(h * (e1 * k1_ + e3 * k3_ + e4 * k4_ + e5 * k5_ + e6 * k6_ + e7 * k7_), z_, z_new_);
      const double fac11 = std::pow(err, 0.2 - kBeta * 0.75);
      if (err <= 1.0) {
        double fac = fac11 / std::pow(err_old_, kBeta);
        fac = std::clamp(fac / kSafety, 1.0 / kFacMax, 1.0 / kFacMin);
        double h_next = h / fac;
        if (last_rejected_) h_next = std::min(h_next, h);
        err_old_ = std::max(err, 1e-4);
        detect_stiffness(h);
        // Accept: the last step is [t_old_, t_], kept for dense output; k7 becomes the next step's k1 (FSAL).
        z_old_.swap(z_);
        z_.swap(z_new_);
        t_old_ = t_;
        t_ = t_new;
        h_last_ = h;
        k1_old_ = k1_;
        k1_ = k7_;
        h_ = lands && h_next < h_ ? h_ : h_next;  // a short landing step does not shrink the next one
        last_rejected_ = false;
        ++counters_.steps;
        return true;
      }
      ++counters_.rejected;
      h_ = h / std::min(1.0 / kFacMin, fac11 / kSafety);
      last_rejected_ = true;
    }
  }

  // h·|λ| ≈ h·‖k7 − k6‖/‖x_new − (argument of k6)‖ (dopri5.f); stage_ still holds that argument. Every
  // sensitivity column follows the same Jacobian, so the largest estimate over the columns counts: a sensitivity
  // can excite the fast mode while the state sits on its slow manifold.
  void detect_stiffness(double h) {
    using namespace dopri5;
    bool stiff_step = false;
    for (int c = 0; c < cols_ && !stiff_step; ++c) {
      const double num = (k7_.col(c) - k6_.col(c)).squaredNorm();
      const double den = (z_new_.col(c) - stage_.col(c)).squaredNorm();
      stiff_step = den > 0.0 && h * h * num > kStabilityBoundary * kStabilityBoundary * den;
    }
    if (stiff_step) {
      non_stiff_count_ = 0;
      if (++stiff_count_ >= kStiffSteps) stiff_ = true;
    } else if (++non_stiff_count_ >= kNonStiffSteps) {
      stiff_count_ = 0;
    }
  }

  // The solution at t in [t_old_, t_] from the last step's dense output (4th order; exact at both ends).
  void write_at(double t, double* x, double* S) {
    using namespace dopri5;
    if (t >= t_ || t_ == t_old_) {
      stage_ = z_;
    } else {
      // k2..k6 still hold the last accepted step's stages, k1_old_ its first and k1_ (= its k7) its last.
      const double h = h_last_, theta = (t - t_old_) / h, theta1 = 1.0 - theta;
      stage_ = z_ - z_old_;  // ydiff
      z_new_ = h * k1_old_ - stage_;  // bspl
      stage_ = z_old_ + theta * (stage_ + theta1 * (z_new_ + theta * ((stage_ - h * k1_ - z_new_) +
                                                                      theta1 * h * (d1 * k1_old_ + d3 * k3_ + d4 * k4_ + d5 * k5_ + d6 * k6_ + d7 * k1_))));
    }
    for (int i = 0; i < kNx; ++i) x[i] = stage_(i, 0);
    for (int s = 0; s < ns_; ++s)
      for (int i = 0; i < kNx; ++i) S[s * kNx + i] = stage_(i, s + 1);
  }

  const double* p_ = nullptr;
  std::array<std::array<Chunk, static_cast<std::size_t>(kNp)>, static_cast<std::size_t>(kNChunks)> p_chunks_{};
  int ns_ = 0, cols_ = 1, n_chunks_ = 0;
  double rtol_ = 1e-8, max_step_ = 0.0;
  long max_steps_ = 0;
  Vec atol_ = Vec::Zero();
  std::array<double, static_cast<std::size_t>(kNp + 1)> inv_pbar_{};
  Regime regime_;
  bool has_input_ = false, stiff_ = false, fresh_ = true, last_rejected_ = false;
  int stiff_count_ = 0, non_stiff_count_ = 0;
  double t_ = 0.0, t_old_ = 0.0, h_ = 0.0, h_last_ = 0.0, err_old_ = 1e-4;
  Mat z_, z_old_, z_new_, k1_, k1_old_, k2_, k3_, k4_, k5_, k6_, k7_, stage_, input_;
  RkCounters counters_;
};

}  // namespace cartpk
