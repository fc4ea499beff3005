#include "fitting/subject_fit_codec.hpp"

namespace cartpk::fitting {

namespace {
void put(ByteWriter& out, const std::vector<std::string>& texts) {
  out.put(texts.size());
  for (const auto& t : texts) out.put_string(t);
}
std::vector<std::string> get_strings(ByteReader& in) {
  std::vector<std::string> texts(in.get<std::size_t>());
  for (auto& t : texts) t = in.get_string();
  return texts;
}
}  // namespace

void encode(ByteWriter& out, const SubjectFit& f) {
  out.put_string(f.id);
  out.put(f.status);
  out.put_string(f.message);
  put(out, f.names);
  out.put_vector(f.estimates);
  for (double v : {f.ofv, f.ofv_likelihood, f.ofv_prior}) out.put(v);
  out.put(f.n_obs);
  out.put(f.n_blq);
  out.put(f.optimization.starts.size());
  for (const auto& s : f.optimization.starts) {
    out.put_vector(s.start);
    out.put_vector(s.optimum);
    out.put(s.ofv);
    out.put(s.evaluations);
    out.put_string(s.algorithm);
    out.put_string(s.status);
    out.put(s.ok);
  }
  out.put(f.optimization.best);
  const auto& u = f.uncertainty;
  out.put(u.information);
  out.put_matrix(u.hessian);
  out.put_matrix(u.covariance);
  out.put_matrix(u.correlation);
  out.put_vector(u.se);
  out.put_vector(u.rse_percent);
  out.put_vector(std::vector<char>(u.poorly_determined.begin(), u.poorly_determined.end()));
  out.put(u.condition_number);
  out.put(u.ok);
  out.put_string(u.note);
  out.put(f.profiles.size());
  for (const auto& p : f.profiles) {
    out.put(p.index);
    out.put(p.threshold);
    out.put_vector(p.points);
    out.put(p.lower);
    out.put(p.upper);
    out.put_string(p.note);
  }
  out.put_vector(f.predictions);
  out.put_vector(f.curve_times);
  out.put_matrix(f.curve);
  out.put(f.solves);
  out.put(f.solver_stats);
}

SubjectFit decode_subject_fit(ByteReader& in) {
  SubjectFit f;
  f.id = in.get_string();
  f.status = in.get<FitStatus>();
  f.message = in.get_string();
  f.names = get_strings(in);
  f.estimates = in.get_vector<double>();
  f.ofv = in.get<double>();
  f.ofv_likelihood = in.get<double>();
  f.ofv_prior = in.get<double>();
  f.n_obs = in.get<std::size_t>();
  f.n_blq = in.get<std::size_t>();
  f.optimization.starts.resize(in.get<std::size_t>());
  for (auto& s : f.optimization.starts) {
    s.start = in.get_vector<double>();
    s.optimum = in.get_vector<double>();
    s.ofv = in.get<double>();
    s.evaluations = in.get<int>();
    s.algorithm = in.get_string();
    s.status = in.get_string();
    s.ok = in.get<bool>();
  }
  f.optimization.best = in.get<int>();
  auto& u = f.uncertainty;
  u.information = in.get<Information>();
  u.hessian = in.get_matrix();
  u.covariance = in.get_matrix();
  u.correlation = in.get_matrix();
  u.se = in.get_vector<double>();
  u.rse_percent = in.get_vector<double>();
  const auto poorly = in.get_vector<char>();
  u.poorly_determined.assign(poorly.begin(), poorly.end());
  u.condition_number = in.get<double>();
  u.ok = in.get<bool>();
  u.note = in.get_string();
  f.profiles.resize(in.get<std::size_t>());
  for (auto& p : f.profiles) {
    p.index = in.get<std::size_t>();
    p.threshold = in.get<double>();
    p.points = in.get_vector<ProfilePoint>();
    p.lower = in.get<double>();
    p.upper = in.get<double>();
    p.note = in.get_string();
  }
  f.predictions = in.get_vector<RecordPrediction>();
  f.curve_times = in.get_vector<double>();
  f.curve = in.get_matrix();
  f.solves = in.get<long>();
  f.solver_stats = in.get<SolverStats>();
  return f;
}

}  // namespace cartpk::fitting
