// SAEM (Kuhn & Lavielle 2005; as in saemix and nlmixr2): each iteration draws every subject's individual
// parameters φ by a few Metropolis–Hastings kernels (prior draws, a joint random walk, a component-wise random walk),
// updates the sufficient statistics by stochastic approximation with step γ_k (0 in burn-in, 1 while exploring,
// 1/k while smoothing) and maximises the complete-data likelihood in closed form: μ and β by generalised least
// squares, Ω from the second moments, the residual variances by a Robbins–Monro step on their current maximiser.
// Random numbers of subject i, chain c at iteration k come from the stream (seed, i, k·chains + c): the result
// does not depend on the thread count.
#include "fitting/saem.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "fitting/optimizer.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting::detail {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kOmegaFloor = 1e-8;

struct Chain {
  Eigen::VectorXd phi;
  std::vector<double> f;  // predictions at phi, per record
  double u_data = kInf;   // −ln p(y | φ) at the current error models
};

// u = −ln p(y | f) of one subject's records under fixed error models, for the many proposals of an MCMC step: a
// quantified log-normal record keeps ln y, 1/σ and ln σ, so a proposal costs one logarithm per record; the other
// records go through record_likelihood.
class DataTerm {
 public:
  DataTerm() = default;
  DataTerm(const Subject& subject, const std::vector<ErrorModel>& errors) { reset(subject, errors); }
  // For another subject or other error models, reusing the storage.
  void reset(const Subject& subject, const std::vector<ErrorModel>& errors) {
    subject_ = &subject;
    errors_ = &errors;
    terms_.clear();
    for (const auto& obs : subject.observations) {
      const auto& e = errors[static_cast<std::size_t>(obs.observable)];
      const bool fast = e.type == ErrorType::lognormal && !obs.censored;
      terms_.push_back(fast ? Term{std::log(obs.value), 1.0 / e.a, kHalfLog2Pi + std::log(e.a)} : Term{});
    }
  }
  [[nodiscard]] double operator()(const std::vector<double>& f) const {
    double total = 0.0;
    for (std::size_t r = 0; r < f.size(); ++r) {
      const auto& obs = subject_->observations[r];
      if (!std::isfinite(f[r])) return kInf;
      const Term& t = terms_[r];
      total += std::isnan(t.inverse_sd) || !(f[r] >= 1e-300)
                   ? -record_likelihood((*errors_)[static_cast<std::size_t>(obs.observable)], obs.value, f[r], obs.censored).loglik
                   : lognormal_minus_loglik(t.log_y - std::log(f[r]), t.inverse_sd, t.constant);
    }
    return std::isfinite(total) ? total : kInf;
  }

 private:
  struct Term {
    double log_y = 0.0, inverse_sd = std::numeric_limits<double>::quiet_NaN(), constant = 0.0;  // NaN: the general path
  };
  const Subject* subject_ = nullptr;
  const std::vector<ErrorModel>* errors_ = nullptr;
  std::vector<Term> terms_;
};


// The small matrix products of the MCMC kernels and the importance sampler, by loops: at a few random effects
// Eigen's dynamic products cost more than the arithmetic.
double quadratic_form(const Eigen::MatrixXd& m, const Eigen::VectorXd& x) {  // xᵀ·M·x
  double sum = 0.0;
  for (Eigen::Index a = 0; a < x.size(); ++a) {
    double row = 0.0;
    for (Eigen::Index b = 0; b < x.size(); ++b) row += m(a, b) * x(b);
    sum += x(a) * row;
  }
  return sum;
}
// out = offset + scale·L·z, L lower triangular.
void lower_times(const Eigen::MatrixXd& l, const Eigen::VectorXd& z, double scale, const Eigen::VectorXd* offset,
                 Eigen::VectorXd& out) {
  for (Eigen::Index a = 0; a < z.size(); ++a) {
    double sum = 0.0;
    for (Eigen::Index b = 0; b <= a; ++b) sum += l(a, b) * z(b);
    out(a) = (offset ? (*offset)(a) : 0.0) + scale * sum;
  }
}

struct SubjectStep {
  std::vector<Chain> chains;
  std::vector<int> accepted, proposed;  // component-wise random walk, per random effect
  double u_joint = 0.0;                 // mean over chains of −ln p(y, φ) (without the Ω determinant)
};

void encode(ByteWriter& out, const SubjectStep& step) {
  out.put(step.chains.size());
  for (const auto& chain : step.chains) {
    out.put_vector(std::vector<double>(chain.phi.data(), chain.phi.data() + chain.phi.size()));
    out.put_vector(chain.f);
    out.put(chain.u_data);
  }
  out.put_vector(step.accepted);
  out.put_vector(step.proposed);
  out.put(step.u_joint);
}

void decode(ByteReader& in, SubjectStep& step) {
  step.chains.resize(in.get<std::size_t>());
  for (auto& chain : step.chains) {
    const auto phi = in.get_vector<double>();
    chain.phi = Eigen::Map<const Eigen::VectorXd>(phi.data(), static_cast<Eigen::Index>(phi.size()));
    chain.f = in.get_vector<double>();
    chain.u_data = in.get<double>();
  }
  step.accepted = in.get_vector<int>();
  step.proposed = in.get_vector<int>();
  step.u_joint = in.get<double>();
}

// The MCMC kernels for one subject at one iteration.
SubjectStep mcmc(const PopulationContext& context, IndividualModel& model, std::size_t i, std::vector<Chain> chains,
                 const PopulationEstimates& e, const OmegaFactors& omega, const Eigen::MatrixXd& omega_l,
                 const Eigen::VectorXd& rw_scale, const PopulationOptions& options, int iteration, unsigned long seed) {
  const Eigen::Index n_eta = context.n_eta();
  const Eigen::VectorXd mean = context.mean_phi(i, e);
  SubjectStep out;
  out.accepted.assign(static_cast<std::size_t>(n_eta), 0);
  out.proposed.assign(static_cast<std::size_t>(n_eta), 0);
  const auto n_chains = chains.size();
  const auto& subject = context.subjects()[i];
  const auto& positions = context.eta_positions();
  // The thread's work space, kept between calls: a proposal, and after the first calls a whole step, allocates
  // nothing. `f` takes turns with the chains' predictions (swapped on acceptance), hence resized here.
  thread_local Eigen::VectorXd z, eta_new, phi_new, eta;
  thread_local std::vector<double> f;
  thread_local DataTerm data_term;
  z.resize(n_eta), eta_new.resize(n_eta), eta.resize(n_eta);
  phi_new = mean;
  f.resize(subject.observations.size());
  data_term.reset(subject, e.errors);
  const auto prior = [&](const Eigen::VectorXd& v) { return 0.5 * quadratic_form(omega.inverse, v); };  // ½ ηᵀΩ⁻¹η
  double u_new = kInf;
  const auto propose = [&] {  // u_new and f at eta_new
    for (Eigen::Index k = 0; k < n_eta; ++k) phi_new(positions[static_cast<std::size_t>(k)]) = mean(positions[static_cast<std::size_t>(k)]) + eta_new(k);
    model.predictions(phi_new, f);
    u_new = data_term(f);
  };
  for (std::size_t c = 0; c < n_chains; ++c) {
    Chain& chain = chains[c];
    PatientRng rng(seed, i, static_cast<std::uint64_t>(iteration) * n_chains + c);
    chain.u_data = data_term(chain.f);  // the error models moved
    for (Eigen::Index k = 0; k < n_eta; ++k) eta(k) = chain.phi(positions[static_cast<std::size_t>(k)]) - mean(positions[static_cast<std::size_t>(k)]);
    double prior_eta = prior(eta);
    const auto accept = [&](double prior_new) {
      chain.phi = phi_new, chain.u_data = u_new, eta = eta_new, prior_eta = prior_new;
      std::swap(chain.f, f);
    };
    // Kernel 1: independent draws from the prior N(mean, Ω), accepted on the data term only.
    for (int s = 0; s < options.kernel_steps[0]; ++s) {
      for (Eigen::Index k = 0; k < n_eta; ++k) z(k) = rng.normal();
      lower_times(omega_l, z, 1.0, nullptr, eta_new);  // η = L z
      propose();
      if (std::isfinite(u_new) && std::log(rng.uniform()) < chain.u_data - u_new) accept(prior(eta_new));
    }
    // Kernels 2 and 3 accept on the data term and the prior.
    const auto metropolis = [&] {
      if (!std::isfinite(u_new)) return false;
      const double prior_new = prior(eta_new);
      if (!(std::log(rng.uniform()) < chain.u_data + prior_eta - u_new - prior_new)) return false;
      accept(prior_new);
      return true;
    };
    // Kernel 2: a random walk on every component at once.
    for (int s = 0; s < options.kernel_steps[1]; ++s) {
      for (Eigen::Index k = 0; k < n_eta; ++k) eta_new(k) = eta(k) + rw_scale(k) * rng.normal();
      propose();
      metropolis();
    }
    // Kernel 3: a random walk on one component at a time (its acceptance rate tunes the step sizes).
    for (int s = 0; s < options.kernel_steps[2]; ++s)
      for (Eigen::Index k = 0; k < n_eta; ++k) {
        eta_new = eta;
        eta_new(k) += rw_scale(k) * rng.normal();
        propose();
        ++out.proposed[static_cast<std::size_t>(k)];
        out.accepted[static_cast<std::size_t>(k)] += metropolis();
      }
    out.u_joint += (chain.u_data + prior_eta) / static_cast<double>(n_chains);
  }
  out.chains = std::move(chains);
  return out;
}

// The residual error parameters that maximise the likelihood of the chains' current predictions (one observable).
std::vector<double> residual_maximiser(const PopulationContext& context, const std::vector<std::vector<Chain>>& chains,
                                       std::size_t observable, const ErrorModel& current) {
  struct Point { double y, f; bool censored; };
  std::vector<Point> points;
  double weight = 1.0;
  for (std::size_t i = 0; i < chains.size(); ++i) {
    weight = 1.0 / static_cast<double>(chains[i].size());
    for (const auto& chain : chains[i])
      for (std::size_t r = 0; r < chain.f.size(); ++r) {
        const auto& obs = context.subjects()[i].observations[r];
        if (static_cast<std::size_t>(obs.observable) == observable) points.push_back({obs.value, chain.f[r], obs.censored});
      }
  }
  const bool any_censored = std::any_of(points.begin(), points.end(), [](const Point& p) { return p.censored; });
  if (current.n_parameters() == 1 && !any_censored && !points.empty()) {  // closed form: the mean squared residual
    double ss = 0.0;
    for (const auto& p : points) {
      const double fc = std::max(p.f, 1e-300);
      const double r = current.type == ErrorType::lognormal ? std::log(p.y) - std::log(fc)
                       : current.type == ErrorType::proportional ? (p.y - fc) / fc
                                                                 : p.y - fc;
      ss += r * r;
    }
    return {std::sqrt(ss / static_cast<double>(points.size()))};
  }
  Problem problem;
  for (int w = 0; w < current.n_parameters(); ++w) {
    const auto [lo, hi] = error_bounds(current.type, w);
    problem.lower.push_back(lo);
    problem.upper.push_back(hi);
  }
  problem.f = [&](const std::vector<double>& z, std::vector<double>*) {
    ErrorModel m = current;
    for (int w = 0; w < m.n_parameters(); ++w) m.set_parameter(w, std::exp(z[static_cast<std::size_t>(w)]));
    double total = 0.0;
    for (const auto& p : points) total -= weight * record_likelihood(m, p.y, p.f, p.censored).loglik;
    return std::isfinite(total) ? total : 1e300;
  };
  std::vector<double> start;
  for (double v : current.parameter_values()) start.push_back(std::log(v));
  for (std::size_t k = 0; k < start.size(); ++k) start[k] = std::clamp(start[k], problem.lower[k], problem.upper[k]);
  OptimizerOptions o;
  o.max_evaluations = 400;
  o.xtol_rel = 1e-6;
  const auto best = minimise_derivative_free(problem, start, o);
  std::vector<double> out;
  for (double z : best.ok ? best.optimum : start) out.push_back(std::exp(z));
  return out;
}

// θ of the drift check: the fixed effects, ln ω² of each random effect, ln of each estimated error parameter.
Eigen::VectorXd drift_parameters(const PopulationContext& context, const PopulationEstimates& e) {
  const auto n_fixed = e.mu.size() + e.beta.size();
  Eigen::VectorXd theta(n_fixed + e.omega.rows() + static_cast<Eigen::Index>(context.error_slots().size()));
  theta << e.mu, e.beta, e.omega.diagonal().array().log().matrix(), Eigen::VectorXd::Zero(static_cast<Eigen::Index>(context.error_slots().size()));
  for (std::size_t s = 0; s < context.error_slots().size(); ++s) {
    const auto& slot = context.error_slots()[s];
    theta(n_fixed + e.omega.rows() + static_cast<Eigen::Index>(s)) =
        std::log(e.errors[slot.observable].parameter_values()[static_cast<std::size_t>(slot.which)]);
  }
  return theta;
}

Eigen::MatrixXd nearest_positive_definite(Eigen::MatrixXd m) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (m + m.transpose()));
  Eigen::VectorXd values = eig.eigenvalues().cwiseMax(kOmegaFloor);
  return eig.eigenvectors() * values.asDiagonal() * eig.eigenvectors().transpose();
}
}  // namespace

bool DriftCheck::settled() const {
  if (window_ < 2 || static_cast<int>(values_.size()) < window_) return false;
  const int half = window_ / 2;
  for (Eigen::Index c = 0; c < values_.front().size(); ++c) {
    double older = 0.0, newer = 0.0, sum = 0.0, sum2 = 0.0;
    for (int k = 0; k < window_; ++k) {
      const double v = values_[static_cast<std::size_t>(k)](c);
      (k < window_ - half ? older : newer) += v;
      sum += v;
      sum2 += v * v;
    }
    older /= window_ - half;
    newer /= half;
    const double mean = sum / window_;
    const double sd = std::sqrt(std::max(0.0, sum2 / window_ - mean * mean));
    if (!(std::abs(newer - older) <= sd)) return false;
  }
  return true;
}

void DriftCheck::add(Eigen::VectorXd theta) {
  values_.push_back(std::move(theta));
  if (static_cast<int>(values_.size()) > window_) values_.erase(values_.begin());
}

void run_saem(const PopulationContext& context, PopulationEstimates& e, const PopulationOptions& options,
              const PopulationProgress& progress, PopulationFitResult& result, ConditionalMoments& moments) {
  const std::size_t n = context.n_subjects();
  const Eigen::Index n_phi = context.n_phi(), n_eta = context.n_eta(), n_beta = e.beta.size();
  const int chains_per_subject =
      options.saem_chains > 0 ? options.saem_chains : std::max(1, static_cast<int>(std::ceil(50.0 / static_cast<double>(n))));
  const int k_burn = options.saem_burn_in, k_smooth = options.saem_smooth;
  int explore_end = k_burn + options.saem_explore;  // the first smoothing iteration (earlier after an automatic stop)
  const int k_anneal_last = k_burn + options.saem_explore / 2;  // annealing ends here at the latest
  bool annealing = true;
  DriftCheck drift(options.saem_auto_stop ? options.saem_stop_window : 0);
  result.saem_auto_stop = options.saem_auto_stop;

  std::vector<std::vector<Chain>> chains(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Eigen::VectorXd mean = context.mean_phi(i, e);
    chains[i].assign(static_cast<std::size_t>(chains_per_subject), Chain{mean, {}, kInf});
  }
  // Predictions at the starting point (a chain whose start does not solve takes its first accepted proposal).
  auto starts = context.map([&](IndividualModel& model, std::size_t i) { return model.predictions(context.mean_phi(i, e)); });
  for (std::size_t i = 0; i < n; ++i)
    for (auto& chain : chains[i]) chain.f = starts[i];

  Eigen::VectorXd rw_scale = 0.5 * e.omega.diagonal().cwiseSqrt();
  std::vector<Eigen::VectorXd> s1(n, Eigen::VectorXd::Zero(n_phi));
  Eigen::MatrixXd s2 = Eigen::MatrixXd::Zero(n_phi, n_phi);
  std::vector<Eigen::VectorXd> cond_mean(n, Eigen::VectorXd::Zero(n_phi));
  std::vector<Eigen::MatrixXd> cond_second(n, Eigen::MatrixXd::Zero(n_phi, n_phi));
  std::vector<double> error_variance;  // SA of each estimated error parameter squared
  for (const auto& slot : context.error_slots())
    error_variance.push_back(std::pow(e.errors[slot.observable].parameter_values()[static_cast<std::size_t>(slot.which)], 2));

  std::vector<Eigen::MatrixXd> x(n);  // subject i's design of the fixed effects: φ_i = x_i·(μ, β) + η_i
  for (std::size_t i = 0; i < n; ++i) {
    x[i].resize(n_phi, n_phi + n_beta);
    x[i] << Eigen::MatrixXd::Identity(n_phi, n_phi), context.design(i);
  }
  for (int k = 0; k < explore_end + k_smooth; ++k) {
    if (context.stop_requested(options.cancel)) {
      result.interrupted = true;
      break;
    }
    const OmegaFactors omega(e.omega);
    const Eigen::MatrixXd omega_l = e.omega.llt().matrixL();
    auto steps = context.map([&](IndividualModel& model, std::size_t i) {  // chains[i] is replaced by the step's below
      return mcmc(context, model, i, std::move(chains[i]), e, omega, omega_l, rw_scale, options, k, options.seed);
    });
    double objective = 0.0;
    std::vector<int> accepted(static_cast<std::size_t>(n_eta), 0), proposed(static_cast<std::size_t>(n_eta), 0);
    for (std::size_t i = 0; i < n; ++i) {
      chains[i] = std::move(steps[i].chains);
      objective += 2.0 * steps[i].u_joint + omega.log_det + static_cast<double>(n_eta) * std::log(2.0 * std::numbers::pi);
      for (Eigen::Index c = 0; c < n_eta; ++c) {
        accepted[static_cast<std::size_t>(c)] += steps[i].accepted[static_cast<std::size_t>(c)];
        proposed[static_cast<std::size_t>(c)] += steps[i].proposed[static_cast<std::size_t>(c)];
      }
    }
    for (Eigen::Index c = 0; c < n_eta; ++c)  // saemix's adaptation towards 40 % acceptance
      if (proposed[static_cast<std::size_t>(c)] > 0)
        rw_scale(c) *= 1.0 + 0.4 * (static_cast<double>(accepted[static_cast<std::size_t>(c)]) /
                                        proposed[static_cast<std::size_t>(c)] - 0.4);
    const std::string phase = k < k_burn ? "burn-in" : k < explore_end ? "explore" : "smooth";
    if (phase == "burn-in") ++result.saem_burn_in_iterations;
    if (k >= k_burn) {
      const double gamma = phase == "explore" ? 1.0 : 1.0 / static_cast<double>(k - explore_end + 1);
      // Stochastic approximation of the sufficient statistics.
      Eigen::MatrixXd s2_now = Eigen::MatrixXd::Zero(n_phi, n_phi);
      for (std::size_t i = 0; i < n; ++i) {
        Eigen::VectorXd mean_phi = Eigen::VectorXd::Zero(n_phi);
        Eigen::MatrixXd second = Eigen::MatrixXd::Zero(n_phi, n_phi);
        for (const auto& chain : chains[i]) {
          mean_phi += chain.phi / chains_per_subject;
          second += chain.phi * chain.phi.transpose() / chains_per_subject;
        }
        s1[i] += gamma * (mean_phi - s1[i]);
        s2_now += second;
        if (phase == "smooth") {
          cond_mean[i] += gamma * (mean_phi - cond_mean[i]);
          cond_second[i] += gamma * (second - cond_second[i]);
        }
      }
      s2 += gamma * (s2_now - s2);
      // M-step: μ and β by generalised least squares on the statistics, then Ω, then the residual error.
      const Eigen::MatrixXd omega_phi_inv = [&] {
        Eigen::MatrixXd m = Eigen::MatrixXd::Zero(n_phi, n_phi);
        const auto& pos = context.eta_positions();
        for (Eigen::Index a = 0; a < n_eta; ++a)
          for (Eigen::Index b = 0; b < n_eta; ++b) m(pos[static_cast<std::size_t>(a)], pos[static_cast<std::size_t>(b)]) = omega.inverse(a, b);
        return m;
      }();
      const Eigen::Index n_fixed = n_phi + n_beta;
      Eigen::MatrixXd normal = Eigen::MatrixXd::Zero(n_fixed, n_fixed);
      Eigen::VectorXd rhs = Eigen::VectorXd::Zero(n_fixed);
      for (std::size_t i = 0; i < n; ++i) {
        normal += x[i].transpose() * omega_phi_inv * x[i];
        rhs += x[i].transpose() * omega_phi_inv * s1[i];
      }
      const Eigen::VectorXd fixed = normal.ldlt().solve(rhs);
      e.mu = fixed.head(n_phi);
      e.beta = fixed.tail(n_beta);
      Eigen::MatrixXd omega_phi = s2;
      for (std::size_t i = 0; i < n; ++i) {
        const Eigen::VectorXd m = x[i] * fixed;
        omega_phi += -s1[i] * m.transpose() - m * s1[i].transpose() + m * m.transpose();
      }
      omega_phi /= static_cast<double>(n);
      Eigen::MatrixXd omega_new(n_eta, n_eta);
      const auto& pos = context.eta_positions();
      for (Eigen::Index a = 0; a < n_eta; ++a)
        for (Eigen::Index b = 0; b < n_eta; ++b)
          omega_new(a, b) = context.setup().omega_full || a == b ? omega_phi(pos[static_cast<std::size_t>(a)], pos[static_cast<std::size_t>(b)]) : 0.0;
      annealing = annealing && phase == "explore" && k < k_anneal_last;
      if (annealing) {  // simulated annealing: Ω shrinks slowly, so the chains keep exploring
        bool held = false;
        for (Eigen::Index a = 0; a < n_eta; ++a) {
          held = held || omega_new(a, a) < options.annealing * e.omega(a, a);
          omega_new(a, a) = std::max(omega_new(a, a), options.annealing * e.omega(a, a));
        }
        // With the automatic stop, annealing ends once it holds no variance up: Ω has come down to the data's.
        if (options.saem_auto_stop && !held) annealing = false;
        if (annealing) ++result.saem_annealing_iterations;
      }
      e.omega = nearest_positive_definite(omega_new);
      for (std::size_t s = 0; s < context.error_slots().size(); ++s) {
        const auto& slot = context.error_slots()[s];
        const auto best = residual_maximiser(context, chains, slot.observable, e.errors[slot.observable]);
        error_variance[s] += gamma * (best[static_cast<std::size_t>(slot.which)] * best[static_cast<std::size_t>(slot.which)] - error_variance[s]);
      }
      for (std::size_t s = 0; s < context.error_slots().size(); ++s)
        e.errors[context.error_slots()[s].observable].set_parameter(context.error_slots()[s].which, std::sqrt(error_variance[s]));
      if (phase == "explore") {
        ++result.saem_explore_iterations;
        if (annealing) {
          drift.clear();  // the window starts when annealing ends
        } else {
          drift.add(drift_parameters(context, e));
          if (drift.settled()) explore_end = k + 1;
        }
      }
    }
    PopulationIteration it{k + 1, phase, objective, e.mu};
    result.trace.push_back(it);
    if (progress) progress(it);
  }
  moments.mean.assign(n, Eigen::VectorXd());
  moments.covariance.assign(n, Eigen::MatrixXd());
  for (std::size_t i = 0; i < n; ++i) {
    if (cond_second[i].isZero()) continue;  // stopped before smoothing: the proposal falls back to the prior
    moments.mean[i] = cond_mean[i];
    moments.covariance[i] = cond_second[i] - cond_mean[i] * cond_mean[i].transpose();
  }
}

std::pair<double, double> importance_sampling_minus2ll(const PopulationContext& context, const PopulationEstimates& e,
                                                       const ConditionalMoments& moments, int samples,
                                                       unsigned long seed) {
  constexpr double kNu = 4.0;
  const Eigen::Index d = context.n_eta();
  const auto dd = static_cast<double>(d);
  const OmegaFactors omega(e.omega);
  const double log_t_constant = std::lgamma(0.5 * (kNu + dd)) - std::lgamma(0.5 * kNu) - 0.5 * dd * std::log(kNu * std::numbers::pi);
  const double log_prior_constant = -0.5 * (dd * std::log(2.0 * std::numbers::pi) + omega.log_det);
  auto per_subject = context.map([&](IndividualModel& model, std::size_t i) {
    const Eigen::VectorXd mean = context.mean_phi(i, e);
    Eigen::VectorXd centre = Eigen::VectorXd::Zero(d);  // proposal in η: the conditional mean and covariance
    Eigen::MatrixXd scale = e.omega;
    if (i < moments.mean.size() && moments.mean[i].size() == context.n_phi()) {
      centre = context.eta_part(moments.mean[i] - mean);
      Eigen::MatrixXd cov(d, d);
      const auto& pos = context.eta_positions();
      for (Eigen::Index a = 0; a < d; ++a)
        for (Eigen::Index b = 0; b < d; ++b) cov(a, b) = moments.covariance[i](pos[static_cast<std::size_t>(a)], pos[static_cast<std::size_t>(b)]);
      if (cov.llt().info() == Eigen::Success) scale = cov;
    }
    const Eigen::LLT<Eigen::MatrixXd> llt(scale);
    const Eigen::MatrixXd l = llt.matrixL();
    double log_det_scale = 0.0;
    for (Eigen::Index k = 0; k < d; ++k) log_det_scale += 2.0 * std::log(l(k, k));
    PatientRng rng(seed, i, std::uint64_t{0x15} << 40);  // a stream no SAEM iteration uses
    const DataTerm data_term(context.subjects()[i], e.errors);
    const auto& positions = context.eta_positions();
    Eigen::VectorXd z(d), eta(d), phi = mean;  // sized once: a sample allocates nothing
    std::vector<double> f, log_w;
    log_w.reserve(static_cast<std::size_t>(samples));
    for (int m = 0; m < samples; ++m) {
      for (Eigen::Index k = 0; k < d; ++k) z(k) = rng.normal();
      // χ²(4) = −2 ln(U₁U₂), a sum of two exponentials: one logarithm instead of four normal draws.
      static_assert(kNu == 4.0, "the χ² draw below is for 4 degrees of freedom");
      const double chi2 = -2.0 * std::log(rng.uniform() * rng.uniform());
      const double shrink = 1.0 / std::sqrt(chi2 / kNu);
      lower_times(l, z, shrink, &centre, eta);  // δ = L·z / √(χ²/ν), η = centre + δ
      // δᵀ·S⁻¹·δ = zᵀz / (χ²/ν), as S = L·Lᵀ.
      const double mahalanobis = z.squaredNorm() * shrink * shrink;
      const double log_q = log_t_constant - 0.5 * log_det_scale - 0.5 * (kNu + dd) * std::log1p(mahalanobis / kNu);
      const double log_prior = log_prior_constant - 0.5 * quadratic_form(omega.inverse, eta);
      for (Eigen::Index k = 0; k < d; ++k)
        phi(positions[static_cast<std::size_t>(k)]) = mean(positions[static_cast<std::size_t>(k)]) + eta(k);
      model.predictions(phi, f);
      log_w.push_back(-data_term(f) + log_prior - log_q);  // −½·(−2 ln p(y | η))
    }
    const double top = *std::max_element(log_w.begin(), log_w.end());
    double sum = 0.0, sum2 = 0.0;
    for (double v : log_w) {
      const double w = std::exp(v - top);
      sum += w;
      sum2 += w * w;
    }
    const double mean_w = sum / samples;
    const double var_w = std::max(0.0, sum2 / samples - mean_w * mean_w);
    const double log_l = top + std::log(mean_w);
    const double se_log = std::sqrt(var_w / samples) / mean_w;  // delta method
    return std::pair{-2.0 * log_l, 2.0 * se_log};
  });
  double total = 0.0, var = 0.0;
  for (const auto& [v, se] : per_subject) {
    total += v;
    var += se * se;
  }
  return {total, std::sqrt(var)};
}

}  // namespace cartpk::fitting::detail
