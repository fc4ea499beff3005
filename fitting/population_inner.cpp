// The population fit's shared pieces: the subject pool and the FOCE-I inner problem (the conditional mode of η).
#include <algorithm>
#include <cmath>
#include <limits>

#include "fitting/optimizer.hpp"
#include "fitting/transforms.hpp"
#include "fitting/population_detail.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting::detail {

PopulationContext::PopulationContext(const PopulationSetup& setup, const std::vector<Subject>& subjects, int threads,
                                     const SubjectExchange* exchange)
    : setup_(setup), subjects_(subjects), positions_(random_effect_positions(setup)), threads_(threads),
      exchange_(exchange) {
  for (const auto& s : subjects) designs_.push_back(covariate_design(setup, s));
  std::vector<bool> observed(setup.base.error_models.size(), false);
  for (const auto& s : subjects)
    for (const auto& obs : s.observations) observed[static_cast<std::size_t>(obs.observable)] = true;
  for (std::size_t j = 0; j < observed.size(); ++j)
    if (observed[j] && setup.base.error_models[j].estimated)
      for (int w = 0; w < setup.base.error_models[j].n_parameters(); ++w) error_slots_.push_back({j, w});
  const Model& model = *setup.base.model;
  for (int e = 0; e < model.n_events(); ++e)
    for (int p : setup.base.estimated) {
      std::vector<double> dp(model.n_parameters(), 0.0);
      dp[static_cast<std::size_t>(p)] = 1.0;
      double t = 0.0, dt = 0.0;
      model.event_time(e, setup.base.parameters.data(), dp.data(), &t, &dt);
      events_move_ = events_move_ || dt != 0.0;
    }
  const unsigned n = cohort_threads(threads, subjects.size());
  for (unsigned t = 0; t < n; ++t)
    solvers_.push_back(make_solver(*setup.base.model, setup.base.method, setup.base.solver_options));
  models_.reserve(subjects.size());
  for (const auto& s : subjects) models_.emplace_back(setup.base, s, *solvers_.front());
}

Eigen::VectorXd PopulationContext::mean_phi(std::size_t i, const PopulationEstimates& e) const {
  return e.beta.size() > 0 ? Eigen::VectorXd(e.mu + designs_[i] * e.beta) : e.mu;
}

Eigen::VectorXd PopulationContext::phi(const Eigen::VectorXd& mean, const Eigen::VectorXd& eta) const {
  Eigen::VectorXd out = mean;
  for (std::size_t k = 0; k < positions_.size(); ++k) out(positions_[k]) += eta(static_cast<Eigen::Index>(k));
  return out;
}

Eigen::VectorXd PopulationContext::eta_part(const Eigen::VectorXd& v) const {
  Eigen::VectorXd out(n_eta());
  for (std::size_t k = 0; k < positions_.size(); ++k) out(static_cast<Eigen::Index>(k)) = v(positions_[k]);
  return out;
}

void encode(ByteWriter& out, const std::vector<double>& values) { out.put_vector(values); }
void decode(ByteReader& in, std::vector<double>& values) { values = in.get_vector<double>(); }
void encode(ByteWriter& out, const std::pair<double, double>& values) {
  out.put(values.first);
  out.put(values.second);
}
void decode(ByteReader& in, std::pair<double, double>& values) {
  values.first = in.get<double>();
  values.second = in.get<double>();
}

namespace {
void put_vector(ByteWriter& out, const Eigen::VectorXd& v) { out.put_vector(std::vector<double>(v.data(), v.data() + v.size())); }
Eigen::VectorXd get_vector(ByteReader& in) {
  const auto values = in.get_vector<double>();
  return Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
}
}  // namespace

void encode(ByteWriter& out, const InnerSolution& s) {
  out.put(s.ok);
  put_vector(out, s.eta);
  out.put(s.objective);
  out.put(s.focei);
  out.put_matrix(s.hessian);
  out.put(s.iterations);
  out.put(s.records.size());
  for (const auto& r : s.records) {
    for (double v : {r.f, r.g, r.y, r.variance, r.weight, r.d_minus2ll}) out.put(v);
    out.put(r.censored);
    put_vector(out, r.dg);
  }
}

void decode(ByteReader& in, InnerSolution& s) {
  s.ok = in.get<bool>();
  s.eta = get_vector(in);
  s.objective = in.get<double>();
  s.focei = in.get<double>();
  s.hessian = in.get_matrix();
  s.iterations = in.get<int>();
  s.records.resize(in.get<std::size_t>());
  for (auto& r : s.records) {
    for (double* v : {&r.f, &r.g, &r.y, &r.variance, &r.weight, &r.d_minus2ll}) *v = in.get<double>();
    r.censored = in.get<bool>();
    r.dg = get_vector(in);
  }
}

OmegaFactors::OmegaFactors(const Eigen::MatrixXd& omega) {
  const Eigen::LLT<Eigen::MatrixXd> llt(omega);
  if (llt.info() != Eigen::Success) throw InputError("Ω is not positive definite (expected a symmetric positive-definite covariance)");
  inverse = llt.solve(Eigen::MatrixXd::Identity(omega.rows(), omega.cols()));
  log_det = 0.0;
  for (Eigen::Index k = 0; k < omega.rows(); ++k) log_det += 2.0 * std::log(llt.matrixL()(k, k));
}

namespace {
struct InnerPoint {
  double objective = std::numeric_limits<double>::infinity();
  Eigen::VectorXd gradient;
  Eigen::MatrixXd hessian;
  std::vector<RecordTerms> records;
};

// L, its gradient and its expected-information Hessian at η, into `point` (whose storage is reused); false where
// the model fails.
bool evaluate(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
              const OmegaFactors& omega, const std::vector<ErrorModel>& errors, const Eigen::VectorXd& eta,
              InnerPoint& point) {
  const double m2ll = model.evaluate(context.phi(mean, eta), errors, true, point.records);
  point.objective = std::isfinite(m2ll) ? m2ll + eta.dot(omega.inverse * eta) : std::numeric_limits<double>::infinity();
  if (!std::isfinite(point.objective)) return false;
  point.gradient.noalias() = 2.0 * omega.inverse * eta;
  point.hessian = omega.inverse;
  const auto& positions = context.eta_positions();
  const Eigen::Index n = eta.size();
  for (const auto& r : point.records)
    for (Eigen::Index a = 0; a < n; ++a) {
      const double va = r.dg(positions[static_cast<std::size_t>(a)]);
      point.gradient(a) += r.d_minus2ll * va;
      for (Eigen::Index b = 0; b <= a; ++b) point.hessian(a, b) += r.weight * va * r.dg(positions[static_cast<std::size_t>(b)]);
    }
  point.hessian.triangularView<Eigen::StrictlyUpper>() = point.hessian.transpose();
  return true;
}

InnerPoint evaluated(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                     const OmegaFactors& omega, const std::vector<ErrorModel>& errors, const Eigen::VectorXd& eta) {
  InnerPoint point;
  evaluate(context, model, mean, omega, errors, eta, point);
  return point;
}

double value_at(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                const OmegaFactors& omega, const std::vector<ErrorModel>& errors, const Eigen::VectorXd& eta) {
  const double m2ll = model.minus2ll(context.phi(mean, eta), errors);
  return std::isfinite(m2ll) ? m2ll + eta.dot(omega.inverse * eta) : std::numeric_limits<double>::infinity();
}
}  // namespace

namespace {
// Where the nearest kink lies from η along the direction that moves the event times: an event time τ_e(η + s·v)
// reaching a sampling time at s = offset (linearised). Empty direction when no event moves.
struct Kink {
  Eigen::VectorXd direction;  // unit vector in η: the event times' normalised gradients, summed
  double offset = std::numeric_limits<double>::infinity();
};

Kink nearest_kink(const PopulationContext& context, const Subject& subject, const Eigen::VectorXd& mean,
                  const Eigen::VectorXd& eta) {
  const auto& setup = context.setup().base;
  const Model& model = *setup.model;
  const Eigen::VectorXd phi = context.phi(mean, eta);
  const auto p = parameters_at(setup, phi);
  std::vector<std::pair<double, Eigen::VectorXd>> events;  // τ_e and ∇_η τ_e
  Kink kink;
  kink.direction = Eigen::VectorXd::Zero(eta.size());
  for (int e = 0; e < model.n_events(); ++e) {
    Eigen::VectorXd gradient(eta.size());
    double t = 0.0;
    for (Eigen::Index k = 0; k < eta.size(); ++k) {
      const auto position = static_cast<std::size_t>(context.eta_positions()[static_cast<std::size_t>(k)]);
      const auto i = static_cast<std::size_t>(setup.estimated[position]);
      std::vector<double> dp(p.size(), 0.0);
      dp[i] = value_derivative(transform_for(model.parameters()[i].domain, setup.lower[position]),
                               phi(static_cast<Eigen::Index>(position)));
      double dt = 0.0;
      model.event_time(e, p.data(), dp.data(), &t, &dt);
      gradient(k) = dt;
    }
    if (gradient.norm() == 0.0) continue;
    kink.direction += gradient / gradient.norm();
    events.emplace_back(t, gradient);
  }
  if (kink.direction.norm() == 0.0) return {};
  kink.direction /= kink.direction.norm();
  for (const auto& [tau, gradient] : events) {
    const double rate = gradient.dot(kink.direction);  // dτ/ds
    if (rate == 0.0) continue;
    for (const auto& obs : subject.observations) {
      const double s = (obs.time_day - tau) / rate;
      if (std::abs(s) < std::abs(kink.offset)) kink.offset = s;
    }
  }
  return kink;
}

// Damped Gauss–Newton from `eta`, finished derivative-free where it stalls.
InnerSolution local_mode(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                         const OmegaFactors& omega, const std::vector<ErrorModel>& errors, Eigen::VectorXd eta,
                         bool with_records) {
  constexpr int kMaxIterations = 100;
  constexpr double kDecrement = 1e-12;  // stop when the Newton decrement −gᵀδ/2 is below this (on L)
  constexpr double kSettled = 1e-12;   // or when L changes by less than this (the solver's precision shows)
  InnerSolution out;
  // The thread's evaluation points, kept between calls: their records' storage is reused (no allocation per
  // record and evaluation in the outer optimiser's thousands of inner problems).
  thread_local InnerPoint point, trial;
  if (!evaluate(context, model, mean, omega, errors, eta, point)) return out;
  int iteration = 0;
  for (; iteration < kMaxIterations && eta.size() > 0; ++iteration) {
    const Eigen::VectorXd step = -(2.0 * point.hessian).ldlt().solve(point.gradient);
    const double slope = point.gradient.dot(step);  // < 0: H is positive definite
    if (!(slope < 0.0) || -0.5 * slope < kDecrement) break;
    // The full step, with derivatives: it is usually taken, and the next iteration needs them there.
    double s = 1.0;
    Eigen::VectorXd candidate = eta + step;
    evaluate(context, model, mean, omega, errors, candidate, trial);
    double value = trial.objective;
    bool at_trial = true;
    // Backtracking by the minimum of the quadratic through L(0), L'(0) and L(s), kept within [s/10, s/2].
    for (int backtrack = 0; backtrack < 40; ++backtrack) {
      if (value <= point.objective + 1e-4 * s * slope || std::abs(value - point.objective) < kSettled) break;
      const double curvature = value - point.objective - slope * s;
      const double s_min = std::isfinite(value) && curvature > 0.0 ? -slope * s * s / (2.0 * curvature) : 0.1 * s;
      s = std::clamp(s_min, 0.1 * s, 0.5 * s);
      candidate = eta + s * step;
      value = value_at(context, model, mean, omega, errors, candidate);
      at_trial = false;
    }
    if (!(value <= point.objective)) break;  // no decrease along the Gauss–Newton direction: at the mode
    const bool settled = point.objective - value < kSettled;
    eta = candidate;
    if (at_trial) std::swap(point, trial);
    else if (!evaluate(context, model, mean, omega, errors, eta, point)) return out;
    if (settled) break;  // the last step gained almost nothing: at the mode to the objective's precision
  }
  // Gauss–Newton stalls at a kink (an event time crossing a sampling time, as stein2019's tmax): finish there
  // derivative-free, then take the FOCE-I terms at the point found.
  const Eigen::VectorXd last_step = eta.size() > 0 ? Eigen::VectorXd(-(2.0 * point.hessian).ldlt().solve(point.gradient))
                                                   : Eigen::VectorXd();
  if (eta.size() > 0 && -0.5 * point.gradient.dot(last_step) > 1e-6) {
    Problem problem;
    problem.lower.assign(static_cast<std::size_t>(eta.size()), -20.0);
    problem.upper.assign(static_cast<std::size_t>(eta.size()), 20.0);
    problem.f = [&](const std::vector<double>& z, std::vector<double>*) {
      const double v = value_at(context, model, mean, omega, errors, Eigen::Map<const Eigen::VectorXd>(z.data(), eta.size()));
      return std::isfinite(v) ? v : 1e300;
    };
    OptimizerOptions o;
    o.max_evaluations = 200 * static_cast<int>(eta.size());
    o.xtol_rel = 1e-10;
    o.ftol_abs = 1e-10;
    const auto polished = minimise_derivative_free(problem, std::vector<double>(eta.data(), eta.data() + eta.size()), o);
    if (polished.ok && polished.ofv < point.objective) {
      eta = Eigen::Map<const Eigen::VectorXd>(polished.optimum.data(), eta.size());
      if (!evaluate(context, model, mean, omega, errors, eta, point)) return out;
    }
  }
  out.ok = true;
  out.iterations = iteration;
  out.eta = eta;
  out.objective = point.objective;
  out.hessian = point.hessian;
  if (with_records) out.records = point.records;
  if (context.events_move() && eta.size() > 0) {
    // A mode on or near a kink (an event time at a sampling time) has a Hessian that jumps as the population
    // parameters move it across. Within a band |s| < h along the events' direction, the Hessian is the band's
    // average: the two one-sided Hessians weighted by the band's share on each side of the kink, continuous in
    // where the mode sits; outside the band it is the mode's own.
    constexpr double kBand = 0.02;  // in η units (2 % in a log-scale parameter)
    const auto kink = nearest_kink(context, model.subject(), mean, eta);
    if (kink.direction.size() > 0 && std::abs(kink.offset) < kBand) {
      const auto minus = evaluated(context, model, mean, omega, errors, eta - kBand * kink.direction);
      const auto plus = evaluated(context, model, mean, omega, errors, eta + kBand * kink.direction);
      if (std::isfinite(minus.objective) && std::isfinite(plus.objective)) {
        const double w_plus = (kBand - kink.offset) / (2.0 * kBand);  // share of the band beyond the kink
        out.hessian = (1.0 - w_plus) * minus.hessian + w_plus * plus.hessian;
      }
    }
  }
  const Eigen::LLT<Eigen::MatrixXd> llt(out.hessian);
  double log_det_h = 0.0;
  for (Eigen::Index k = 0; k < out.hessian.rows(); ++k) log_det_h += 2.0 * std::log(llt.matrixL()(k, k));
  out.focei = out.objective + omega.log_det + log_det_h;
  return out;
}
}  // namespace

InnerSolution solve_inner(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                          const OmegaFactors& omega, const std::vector<ErrorModel>& errors,
                          const std::vector<Eigen::VectorXd>& starts, bool with_records) {
  // A thorough search (many starts) runs local searches from the best three; otherwise from the best start only
  // (the warm start, unless η = 0 is better), or straight from a single start.
  if (starts.size() == 1) return local_mode(context, model, mean, omega, errors, starts.front(), with_records);
  const std::size_t local_searches = starts.size() > 2 ? 3 : 1;
  // The candidates ranked by L; local searches from the best few (modes differ where events cross sampling times,
  // or where a model has a symmetry such as a biexponential's two labellings).
  std::vector<std::pair<double, Eigen::VectorXd>> ranked;
  for (const auto& start : starts)
    if (start.size() == context.n_eta()) ranked.emplace_back(value_at(context, model, mean, omega, errors, start), start);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  InnerSolution best;
  for (std::size_t k = 0; k < ranked.size() && k < local_searches; ++k) {
    if (!std::isfinite(ranked[k].first) && k > 0) break;
    auto candidate = local_mode(context, model, mean, omega, errors, ranked[k].second, with_records);
    if (candidate.ok && (!best.ok || candidate.objective < best.objective)) best = std::move(candidate);
  }
  return best;
}

std::vector<Eigen::VectorXd> inner_starts(const Eigen::VectorXd& warm, const Eigen::MatrixXd& omega, int draws,
                                          std::size_t subject) {
  const bool has_warm = warm.size() == omega.rows() && !warm.isZero();
  if (has_warm && draws == 0) return {warm};  // an ordinary evaluation: the mode moves continuously from the warm one
  std::vector<Eigen::VectorXd> starts{Eigen::VectorXd::Zero(omega.rows())};
  if (has_warm) starts.insert(starts.begin(), warm);
  const Eigen::MatrixXd l = omega.llt().matrixL();
  PatientRng rng(0x1A2B3C, subject, 7);  // fixed stream: the starts depend on the subject only
  for (int d = 0; d < draws; ++d) {
    Eigen::VectorXd z(omega.rows());
    for (Eigen::Index k = 0; k < z.size(); ++k) z(k) = rng.normal();
    starts.push_back(l * z);
  }
  return starts;
}

}  // namespace cartpk::fitting::detail
