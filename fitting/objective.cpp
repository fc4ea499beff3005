#include "fitting/objective.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

namespace {
constexpr double kFailedOfv = 1e300;  // parameters the model rejects (e.g. tlag >= tmax): a wall, not a crash

}  // namespace

ObservationGrid observation_grid(const Subject& subject) {
  ObservationGrid grid;
  for (const auto& obs : subject.observations) grid.times_day.push_back(obs.time_day);
  std::sort(grid.times_day.begin(), grid.times_day.end());
  grid.times_day.erase(std::unique(grid.times_day.begin(), grid.times_day.end()), grid.times_day.end());
  for (const auto& obs : subject.observations)
    grid.row.push_back(static_cast<std::size_t>(
        std::lower_bound(grid.times_day.begin(), grid.times_day.end(), obs.time_day) - grid.times_day.begin()));
  return grid;
}

SimulationRequest subject_request(const FitSetup& setup, const Subject& subject, std::vector<std::size_t>& row) {
  auto grid = observation_grid(subject);
  row = std::move(grid.row);
  SimulationRequest request;
  request.parameters = setup.parameters;
  request.times_day = std::move(grid.times_day);
  if (setup.model->accepts_doses())
    for (const auto& d : subject.doses) request.doses.push_back(d.dose);
  return request;
}

std::pair<double, double> error_bounds(ErrorType type, int which) {
  const bool additive_sd = (type == ErrorType::additive) || (type == ErrorType::combined && which == 0);
  return additive_sd ? std::pair{std::log(1e-10), std::log(1e10)} : std::pair{std::log(1e-4), std::log(20.0)};
}

FitSetup default_setup(const Model& model, const std::string& method) {
  FitSetup setup;
  setup.model = &model;
  setup.method = method;
  setup.solver_options.rtol = kFitRtol;
  setup.parameters = model.default_parameters();
  for (auto name : model.default_estimated()) {
    const auto i = static_cast<std::size_t>(model.parameter_index(name));
    setup.estimated.push_back(static_cast<int>(i));
    setup.lower.push_back(model.parameters()[i].lower);
    setup.upper.push_back(model.parameters()[i].upper);
  }
  setup.error_models.assign(model.n_observables(), ErrorModel{});
  return setup;
}

void validate_setup(const FitSetup& setup) {
  const Model& model = *setup.model;
  const auto n = setup.estimated.size();
  if (setup.parameters.size() != model.n_parameters() || setup.lower.size() != n || setup.upper.size() != n ||
      setup.error_models.size() != model.n_observables())
    throw ModelError(std::string(model.name()), "fit set-up has inconsistent sizes");
  for (std::size_t k = 0; k < n; ++k) {
    const auto& spec = model.parameters()[static_cast<std::size_t>(setup.estimated[k])];
    const double lo = setup.lower[k], hi = setup.upper[k], v = setup.parameters[static_cast<std::size_t>(setup.estimated[k])];
    std::ostringstream msg;
    msg << "parameter " << spec.name << ": ";
    if (!(lo < hi)) msg << "lower bound " << lo << " is not below upper bound " << hi;
    else if (!in_domain(spec.domain, lo) && !(spec.domain == Domain::fraction && lo == 0.0) &&
             !(spec.domain == Domain::nonnegative && lo == 0.0))
      msg << "lower bound " << lo << " is outside its domain (expected " << domain_name(spec.domain) << ")";
    else if (spec.domain == Domain::fraction && (lo <= 0.0 || hi >= 1.0))
      msg << "bounds [" << lo << ", " << hi << "] must lie strictly inside (0, 1)";
    else if (transform_for(spec.domain, lo) == Transform::log && lo <= 0.0)
      msg << "lower bound must be > 0 for a log-scale estimate";
    else if (v < lo || v > hi)
      msg << "starting value " << v << " is outside its bounds [" << lo << ", " << hi << "]";
    else continue;
    throw InputError(msg.str());
  }
  for (const auto& prior : setup.priors) {
    if (std::find(setup.estimated.begin(), setup.estimated.end(), prior.parameter) == setup.estimated.end())
      throw InputError("prior on " + std::string(model.parameters()[static_cast<std::size_t>(prior.parameter)].name) +
                       ": the parameter is not estimated (expected priors on estimated parameters only)");
    if (!(prior.typical > 0.0) || !(prior.omega2 > 0.0))
      throw InputError("prior on " + std::string(model.parameters()[static_cast<std::size_t>(prior.parameter)].name) +
                       ": expected a typical value > 0 and omega2 > 0");
  }
}

SubjectObjective::SubjectObjective(const FitSetup& setup, const Subject& subject, Solver& solver)
    : setup_(setup), subject_(subject), solver_(solver) {
  const Model& model = *setup.model;
  for (std::size_t k = 0; k < setup.estimated.size(); ++k) {
    const auto& spec = model.parameters()[static_cast<std::size_t>(setup.estimated[k])];
    const Transform t = transform_for(spec.domain, setup.lower[k]);
    transforms_.push_back(t);
    names_.emplace_back(spec.name);
    z_lower_.push_back(to_unconstrained(t, setup.lower[k]));
    z_upper_.push_back(to_unconstrained(t, setup.upper[k]));
  }
  std::vector<bool> observed(model.n_observables(), false);
  for (const auto& obs : subject.observations) observed[static_cast<std::size_t>(obs.observable)] = true;
  for (std::size_t j = 0; j < model.n_observables(); ++j) {
    const auto& em = setup.error_models[j];
    if (!observed[j] || !em.estimated) continue;
    const auto names = em.parameter_names(std::string(model.observables()[j].name));
    for (int w = 0; w < em.n_parameters(); ++w) {
      error_slots_.push_back({j, w});
      names_.push_back(names[static_cast<std::size_t>(w)]);
      const auto [lo, hi] = error_bounds(em.type, w);
      z_lower_.push_back(lo);
      z_upper_.push_back(hi);
    }
  }
  request_ = subject_request(setup, subject, time_index_);
}

std::size_t SubjectObjective::n_censored() const {
  return static_cast<std::size_t>(std::count_if(subject_.observations.begin(), subject_.observations.end(),
                                                [](const Observation& o) { return o.censored; }));
}

std::vector<double> SubjectObjective::initial_point() const {
  std::vector<double> z;
  for (std::size_t k = 0; k < transforms_.size(); ++k)
    z.push_back(to_unconstrained(transforms_[k], setup_.parameters[static_cast<std::size_t>(setup_.estimated[k])]));
  for (const auto& slot : error_slots_) {
    const double v = setup_.error_models[slot.observable].parameter_values()[static_cast<std::size_t>(slot.which)];
    z.push_back(std::log(v));
  }
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = std::clamp(z[i], z_lower_[i], z_upper_[i]);
  return z;
}

Problem SubjectObjective::problem() {
  Problem out;
  out.f = [this](const std::vector<double>& z, std::vector<double>* g) { return ofv(z, g); };
  out.scoring = [this](const std::vector<double>& z, std::vector<double>& g, Eigen::MatrixXd& h) {
    return ofv_with_information(z, g, h);
  };
  out.lower = z_lower_;
  out.upper = z_upper_;
  for (std::size_t k = 0; k < transforms_.size(); ++k)
    if (auto points = kink_points(k)) {
      out.kink_coordinates.push_back(k);
      out.kink_points.push_back(std::move(*points));
    }
  return out;
}

// Events at estimated times put kinks in the OFV where an event time crosses an observation time. The values
// of estimate k that put an event on a sampling time, by Newton on the event time (exact where it is linear in
// the parameter, as tmax), on the estimation scale; nothing when estimate k moves no event.
std::optional<std::vector<double>> SubjectObjective::kink_points(std::size_t k) const {
  const Model& model = *setup_.model;
  const auto i = static_cast<std::size_t>(setup_.estimated[k]);
  const auto event_time = [&model, i](int e, const std::vector<double>& p) {  // τ and dτ/dp_i
    std::vector<double> dp(p.size(), 0.0);
    dp[i] = 1.0;
    std::pair<double, double> t_dt{0.0, 0.0};
    model.event_time(e, p.data(), dp.data(), &t_dt.first, &t_dt.second);
    return t_dt;
  };
  bool moves_an_event = false;
  std::vector<double> points;
  for (int e = 0; e < model.n_events(); ++e) {
    if (event_time(e, setup_.parameters).second == 0.0) continue;
    moves_an_event = true;
    for (double t_obs : request_.times_day) {
      auto p = setup_.parameters;
      for (int iteration = 0; iteration < 20; ++iteration) {
        const auto [t, dt] = event_time(e, p);
        if (dt == 0.0 || !std::isfinite(t) || std::abs(t - t_obs) <= 1e-12 * std::max(1.0, t_obs)) break;
        p[i] -= (t - t_obs) / dt;
      }
      if (p[i] > setup_.lower[k] && p[i] < setup_.upper[k]) points.push_back(to_unconstrained(transforms_[k], p[i]));
    }
  }
  if (!moves_an_event) return std::nullopt;
  std::sort(points.begin(), points.end());
  return points;
}

std::vector<double> SubjectObjective::natural(const std::vector<double>& z) const {
  std::vector<double> v(z.size());
  for (std::size_t i = 0; i < z.size(); ++i)
    v[i] = i < transforms_.size() ? from_unconstrained(transforms_[i], z[i]) : std::exp(z[i]);
  return v;
}

std::vector<double> SubjectObjective::natural_derivative(const std::vector<double>& z) const {
  std::vector<double> d(z.size());
  for (std::size_t i = 0; i < z.size(); ++i)
    d[i] = i < transforms_.size() ? value_derivative(transforms_[i], z[i]) : std::exp(z[i]);
  return d;
}

std::vector<double> SubjectObjective::model_parameters(const std::vector<double>& z) const {
  auto p = setup_.parameters;
  for (std::size_t k = 0; k < transforms_.size(); ++k)
    p[static_cast<std::size_t>(setup_.estimated[k])] = from_unconstrained(transforms_[k], z[k]);
  return p;
}

std::optional<std::vector<double>> SubjectObjective::canonical_point(const std::vector<double>& z) const {
  auto p = model_parameters(z);
  if (!setup_.model->canonicalize(p)) return std::nullopt;
  auto out = z;
  for (std::size_t k = 0; k < transforms_.size(); ++k) {
    const double v = p[static_cast<std::size_t>(setup_.estimated[k])];
    if (v < setup_.lower[k] || v > setup_.upper[k]) return std::nullopt;  // its mirror image is outside the bounds
    out[k] = to_unconstrained(transforms_[k], v);
  }
  for (std::size_t i = 0; i < setup_.parameters.size(); ++i)  // a fixed parameter may not change
    if (std::find(setup_.estimated.begin(), setup_.estimated.end(), static_cast<int>(i)) == setup_.estimated.end() &&
        p[i] != setup_.parameters[i])
      return std::nullopt;
  return out;
}

void SubjectObjective::apply(const std::vector<double>& z, std::vector<ErrorModel>& errors) const {
  errors = setup_.error_models;
  for (std::size_t s = 0; s < error_slots_.size(); ++s)
    errors[error_slots_[s].observable].set_parameter(error_slots_[s].which, std::exp(z[transforms_.size() + s]));
}

double SubjectObjective::ofv(const std::vector<double>& z, std::vector<double>* gradient) {
  // Called thousands of times per subject: works in the members' storage, allocating nothing once warm.
  const std::size_t nk = transforms_.size();
  if (gradient) gradient->assign(z.size(), 0.0);
  auto& p = request_.parameters;
  auto& dtheta = dtheta_;
  dtheta.resize(z.size());
  for (std::size_t k = 0; k < nk; ++k) {
    p[static_cast<std::size_t>(setup_.estimated[k])] = from_unconstrained(transforms_[k], z[k]);
    dtheta[k] = value_derivative(transforms_[k], z[k]);
  }
  for (std::size_t i = nk; i < z.size(); ++i) dtheta[i] = std::exp(z[i]);
  if (!setup_.model->check_parameters(p).empty()) return kFailedOfv;
  apply(z, errors_);
  request_.sensitivity_parameters.clear();
  if (gradient) request_.sensitivity_parameters = setup_.estimated;
  solve(request_, result_);

  double loglik = 0.0;
  for (std::size_t i = 0; i < subject_.observations.size(); ++i) {
    const auto& obs = subject_.observations[i];
    const auto row = static_cast<Eigen::Index>(time_index_[i]);
    const auto j = static_cast<std::size_t>(obs.observable);
    const double f = result_.observables(row, static_cast<Eigen::Index>(j));
    const auto rl = record_likelihood(errors_[j], obs.value, f, obs.censored);
    loglik += rl.loglik;
    if (!gradient) continue;
    for (std::size_t k = 0; k < nk; ++k)
      (*gradient)[k] += -2.0 * rl.d_prediction * result_.observable_sensitivities[j](row, static_cast<Eigen::Index>(k)) * dtheta[k];
    for (std::size_t s = 0; s < error_slots_.size(); ++s)
      if (error_slots_[s].observable == j)
        (*gradient)[nk + s] += -2.0 * rl.d_parameters[error_slots_[s].which] * dtheta[nk + s];
  }
  last_likelihood_ = -2.0 * loglik;
  last_prior_ = 0.0;
  for (const auto& prior : setup_.priors) {  // −2 ln N(ln θ; ln typical, ω²), constants included
    const auto k = static_cast<std::size_t>(std::find(setup_.estimated.begin(), setup_.estimated.end(), prior.parameter) -
                                            setup_.estimated.begin());
    const double theta = request_.parameters[static_cast<std::size_t>(prior.parameter)];
    const double u = std::log(theta) - std::log(prior.typical);
    last_prior_ += u * u / prior.omega2 + std::log(2.0 * std::numbers::pi * prior.omega2);
    if (gradient) (*gradient)[k] += 2.0 * u / prior.omega2 * dtheta[k] / theta;
  }
  return last_likelihood_ + last_prior_;
}

std::vector<RecordPrediction> SubjectObjective::predictions(const std::vector<double>& z) {
  request_.parameters = model_parameters(z);
  request_.sensitivity_parameters.clear();
  std::vector<ErrorModel> errors;
  apply(z, errors);
  solve(request_, result_);
  std::vector<RecordPrediction> out;
  for (std::size_t i = 0; i < subject_.observations.size(); ++i) {
    const auto& obs = subject_.observations[i];
    const auto j = static_cast<std::size_t>(obs.observable);
    RecordPrediction rp;
    rp.ipred = result_.observables(static_cast<Eigen::Index>(time_index_[i]), static_cast<Eigen::Index>(j));
    // A BLQ record has no observed value: its residual is undefined (NaN), never one computed from the LLOQ.
    rp.iwres = obs.censored ? std::nan("") : weighted_residual(errors[j], obs.value, rp.ipred);
    rp.blq_probability = obs.censored ? std::exp(record_likelihood(errors[j], obs.value, rp.ipred, true).loglik) : 0.0;
    out.push_back(rp);
  }
  return out;
}

Eigen::MatrixXd SubjectObjective::expected_information(const std::vector<double>& z) {
  std::vector<double> gradient;
  Eigen::MatrixXd h;
  if (ofv_with_information(z, gradient, h) >= kFailedOfv)
    throw InputError("expected information: the model rejects the parameters at the optimum");
  return h;
}

double SubjectObjective::ofv_with_information(const std::vector<double>& z, std::vector<double>& gradient,
                                              Eigen::MatrixXd& h) {
  const double value = ofv(z, &gradient);
  if (value < kFailedOfv) information_at_last_solve(h);
  return value;
}

// From the last ofv() with a gradient: its solve (with sensitivities), error models and transform derivatives.
void SubjectObjective::information_at_last_solve(Eigen::MatrixXd& h) const {
  const std::size_t nk = transforms_.size();
  const auto n = static_cast<Eigen::Index>(dtheta_.size());
  const auto& dtheta = dtheta_;
  const auto& errors = errors_;
  h.setZero(n, n);
  Eigen::Matrix<double, Eigen::Dynamic, 3> jacobian(n, 3);  // d(f, a, b)/dz of one record
  for (std::size_t i = 0; i < subject_.observations.size(); ++i) {
    const auto& obs = subject_.observations[i];
    const auto row = static_cast<Eigen::Index>(time_index_[i]);
    const auto j = static_cast<std::size_t>(obs.observable);
    jacobian.setZero();
    for (std::size_t k = 0; k < nk; ++k)
      jacobian(static_cast<Eigen::Index>(k), 0) =
          result_.observable_sensitivities[j](row, static_cast<Eigen::Index>(k)) * dtheta[k];
    for (std::size_t s = 0; s < error_slots_.size(); ++s) {
      if (error_slots_[s].observable != j) continue;
      const bool is_b = errors[j].type == ErrorType::proportional || error_slots_[s].which == 1;
      jacobian(static_cast<Eigen::Index>(nk + s), is_b ? 2 : 1) = dtheta[nk + s];
    }
    const double f = result_.observables(row, static_cast<Eigen::Index>(j));
    const double limit = obs.censored ? obs.value : obs.lloq;
    h += 2.0 * jacobian * record_information(errors[j], f, limit) * jacobian.transpose();
  }
  for (const auto& prior : setup_.priors) {  // −2 ln prior = u²/ω², u = ln θ − ln typical: 2/ω² (du/dz)²
    const auto k = static_cast<Eigen::Index>(std::find(setup_.estimated.begin(), setup_.estimated.end(), prior.parameter) -
                                             setup_.estimated.begin());
    const double du = dtheta[static_cast<std::size_t>(k)] / request_.parameters[static_cast<std::size_t>(prior.parameter)];
    h(k, k) += 2.0 * du * du / prior.omega2;
  }
}

Eigen::MatrixXd SubjectObjective::curve(const std::vector<double>& z, const std::vector<double>& times_day) {
  SimulationRequest request{model_parameters(z), times_day, {}, request_.doses};
  SimulationResult result;
  solve(request, result);
  return result.observables;
}

void SubjectObjective::solve(const SimulationRequest& request, SimulationResult& result) {
  ++solves_;
  solver_.solve(request, result);
  solver_totals_ += result.stats;
}

}  // namespace cartpk::fitting
