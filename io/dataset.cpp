#include "io/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "io/csv_reader.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
bool is_missing(const std::string& field) { return field.empty() || field == "."; }

// Column positions; -1 when absent.
struct Columns {
  int id = -1, time = -1, evid = -1, amt = -1, dv = -1, dvid = -1, cens = -1, mdv = -1, lloq = -1;
  int addl = -1, ii = -1, rate = -1, ss = -1;  // NONMEM dosing columns
  std::vector<std::pair<std::string, int>> covariates;
  std::vector<std::string> names;
};

class Parser {
 public:
  Parser(std::string name, const DatasetOptions& options) : name_(std::move(name)), options_(options) {}

  Dataset parse(const std::string& text) {
    const auto records = split_csv(text, name_);
    if (records.empty()) throw InputError(name_ + ": the file is empty (expected a header row and records)");
    read_header(records.front());
    if (records.size() == 1)
      throw InputError(name_ + ":" + std::to_string(records.front().line) +
                       ": header only, no records (expected at least one row after the header)");
    Dataset data;
    data.path = name_;
    data.observables = options_.observables;
    for (const auto& [cov, _] : columns_.covariates) data.covariate_names.push_back(cov);
    std::set<std::string> finished;  // subjects whose block has ended
    for (std::size_t r = 1; r < records.size(); ++r) read_record(records[r], data, finished);
    for (auto& subject : data.subjects) check_subject(subject, data.warnings);
    return data;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& column, const std::string& found, const std::string& expected) const {
    throw InputError(name_ + ":" + std::to_string(line) + ": column " + column + ": found '" + found + "', expected " +
                     expected);
  }

  void read_header(const CsvRecord& header) {
    columns_.names = header.fields;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < header.fields.size(); ++i) {
      const std::string& raw = header.fields[i];
      const std::string key = upper(raw);
      if (key.empty()) fail(header.line, "#" + std::to_string(i + 1), raw, "a column name in the header");
      if (!seen.insert(key).second) fail(header.line, raw, raw, "each column name once");
      const int c = static_cast<int>(i);
      if (key == "ID") columns_.id = c;
      else if (key == "TIME") columns_.time = c;
      else if (key == "EVID") columns_.evid = c;
      else if (key == "AMT") columns_.amt = c;
      else if (key == "DV") columns_.dv = c;
      else if (key == "DVID") columns_.dvid = c;
      else if (key == "CENS") columns_.cens = c;
      else if (key == "MDV") columns_.mdv = c;
      else if (key == "LLOQ") columns_.lloq = c;
      else if (key == "ADDL") columns_.addl = c;
      else if (key == "II") columns_.ii = c;
      else if (key == "RATE") columns_.rate = c;
      else if (key == "SS") columns_.ss = c;
      else columns_.covariates.emplace_back(raw, c);
    }
    std::string missing;
    for (const auto& [col, label] : {std::pair{columns_.id, "ID"}, {columns_.time, "TIME"}, {columns_.dv, "DV"}})
      if (col < 0) missing += std::string(missing.empty() ? "" : ", ") + label;
    if (columns_.amt >= 0 && columns_.evid < 0) missing += std::string(missing.empty() ? "" : ", ") + "EVID (AMT is present)";
    if (columns_.dvid < 0 && options_.default_observable.empty())
      missing += std::string(missing.empty() ? "" : ", ") + "DVID (or name the observable with --dvid)";
    if (!missing.empty())
      throw InputError(name_ + ":" + std::to_string(header.line) + ": missing required column(s) " + missing +
                       " (expected ID, TIME, EVID, AMT, DV, DVID; CENS, MDV, LLOQ and covariates optional)");
  }

  const std::string& field(const CsvRecord& rec, int col) const { return rec.fields[static_cast<std::size_t>(col)]; }
  const std::string& column_name(int col) const { return columns_.names[static_cast<std::size_t>(col)]; }

  std::optional<double> number(const CsvRecord& rec, int col, const std::string& expected) const {
    if (col < 0) return std::nullopt;
    const std::string& text = field(rec, col);
    if (is_missing(text)) return std::nullopt;
    double value = 0.0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::invalid_argument || end != text.data() + text.size())
      fail(rec.line, column_name(col), text, expected);
    if (ec == std::errc::result_out_of_range || !std::isfinite(value))
      fail(rec.line, column_name(col), text, "a finite number: " + expected);
    return value;
  }

  int flag(const CsvRecord& rec, int col, int fallback, int max_value) const {
    const auto v = number(rec, col, "0 or 1");
    if (!v) return fallback;
    if (*v != 0.0 && !(*v == 1.0 && max_value >= 1)) fail(rec.line, column_name(col), field(rec, col), "0 or 1");
    return static_cast<int>(*v);
  }

  int dosing_count(const CsvRecord& rec, int col) const {  // ADDL: a whole number >= 0 ('.' is 0)
    const auto v = number(rec, col, "ADDL, a whole number of additional doses >= 0");
    if (!v) return 0;
    if (*v < 0.0 || *v != std::floor(*v) || *v > 10000.0)
      fail(rec.line, column_name(col), field(rec, col), "ADDL, a whole number of additional doses from 0 to 10000");
    return static_cast<int>(*v);
  }

  int observable_of(const CsvRecord& rec) const {
    std::string name = options_.default_observable;
    if (columns_.dvid >= 0 && !is_missing(field(rec, columns_.dvid))) {
      name = field(rec, columns_.dvid);
      if (auto it = options_.dvid_map.find(name); it != options_.dvid_map.end()) name = it->second;
    }
    for (std::size_t i = 0; i < options_.observables.size(); ++i)
      if (options_.observables[i] == name) return static_cast<int>(i);
    std::string known;
    for (const auto& o : options_.observables) known += (known.empty() ? "" : ", ") + o;
    fail(rec.line, columns_.dvid >= 0 ? column_name(columns_.dvid) : "DVID", name,
         "an observable of the model (" + known + "), or a number mapped with --dvid N=name");
  }

  void read_record(const CsvRecord& rec, Dataset& data, std::set<std::string>& finished) {
    if (rec.fields.size() != columns_.names.size())
      throw InputError(name_ + ":" + std::to_string(rec.line) + ": " + std::to_string(rec.fields.size()) +
                       " fields, expected " + std::to_string(columns_.names.size()) + " as in the header");
    const std::string& id = field(rec, columns_.id);
    if (is_missing(id)) fail(rec.line, column_name(columns_.id), id, "a subject identifier");
    if (data.subjects.empty() || data.subjects.back().id != id) {
      if (!data.subjects.empty()) finished.insert(data.subjects.back().id);
      if (finished.count(id))
        throw InputError(name_ + ":" + std::to_string(rec.line) + ": records of subject " + id +
                         " are not contiguous (expected all records of a subject together, sorted by TIME)");
      data.subjects.push_back(Subject{id, rec.line, {}, {}, {}});
      last_time_ = -1.0;
    }
    Subject& subject = data.subjects.back();

    const auto time = number(rec, columns_.time, "a time in days >= 0");
    if (!time || *time < 0.0) fail(rec.line, column_name(columns_.time), field(rec, columns_.time), "a time in days >= 0");
    if (*time < last_time_)
      fail(rec.line, column_name(columns_.time), field(rec, columns_.time),
           "times in non-decreasing order within subject " + id + " (previous " + number_text(last_time_) + ")");
    last_time_ = *time;

    if (*time > kTenYearsDay && !warned_long_time_) {
      warned_long_time_ = true;
      data.warnings.push_back(name_ + ":" + std::to_string(rec.line) + ": TIME " + number_text(*time) +
                              " is beyond 10 years (TIME is in days; hours or another unit?)");
    }
    for (const auto& [cov, col] : columns_.covariates) {
      const auto v = number(rec, col, "a number (covariate " + cov + ")");
      if (!v) continue;
      const auto [it, first] = subject.covariates.try_emplace(cov, *v);
      if (!first && it->second != *v && changing_covariates_.insert(id + '\n' + cov).second)
        data.warnings.push_back(name_ + ":" + std::to_string(rec.line) + ": covariate " + cov + " of subject " + id +
                                " changes from " + number_text(it->second) + " to " + number_text(*v) +
                                " (the subject's first value is used; time-varying covariates are not modelled)");
    }

    const int evid = flag(rec, columns_.evid, 0, 1);
    if (const auto rate = number(rec, columns_.rate, "RATE = 0 (a bolus dose)"); rate && *rate != 0.0)
      fail(rec.line, column_name(columns_.rate), field(rec, columns_.rate),
           "RATE = 0 or '.': CAR-T doses are bolus infusions, zero-order input is not modelled");
    if (const auto ss = number(rec, columns_.ss, "SS = 0"); ss && *ss != 0.0)
      fail(rec.line, column_name(columns_.ss), field(rec, columns_.ss),
           "SS = 0 or '.': steady-state dosing is not modelled (expand the doses, or use ADDL and II)");
    if (evid == 0 && dosing_count(rec, columns_.addl) > 0)
      fail(rec.line, column_name(columns_.addl), field(rec, columns_.addl), "ADDL only on a dose record (EVID = 1)");
    const int mdv = flag(rec, columns_.mdv, evid, 1);
    if (evid == 1) {
      if (columns_.mdv >= 0 && mdv == 0) fail(rec.line, column_name(columns_.mdv), field(rec, columns_.mdv), "MDV = 1 on a dose record (EVID = 1)");
      const auto amt = number(rec, columns_.amt, "a dose in cells > 0");
      if (!amt || *amt <= 0.0)
        fail(rec.line, columns_.amt >= 0 ? column_name(columns_.amt) : "AMT",
             columns_.amt >= 0 ? field(rec, columns_.amt) : "", "a dose in cells > 0 on a dose record (EVID = 1)");
      double weight = std::nan("");
      for (const auto& [cov, col] : columns_.covariates)
        if (upper(cov) == "WT") weight = number(rec, col, "a weight in kg").value_or(std::nan(""));
      // ADDL further doses every II days (NONMEM); each must fall on a time without another dose.
      const int additional = dosing_count(rec, columns_.addl);
      const double interval = number(rec, columns_.ii, "an interval II in days > 0").value_or(0.0);
      if (additional > 0 && !(interval > 0.0))
        fail(rec.line, columns_.ii >= 0 ? column_name(columns_.ii) : "II", columns_.ii >= 0 ? field(rec, columns_.ii) : "",
             "an interval II > 0 days with ADDL = " + std::to_string(additional));
      for (int k = 0; k <= additional; ++k) {
        const double t = *time + k * interval;
        for (const auto& d : subject.doses)
          if (d.dose.time_day == t)
            throw InputError(name_ + ":" + std::to_string(rec.line) + ": duplicate dose record for subject " + id +
                             " at TIME " + number_text(t) + (k > 0 ? " (the " + std::to_string(k) + ". of ADDL)" : "") +
                             " (same as line " + std::to_string(d.line) +
                             "; expected one dose record per subject and time)");
        subject.doses.push_back({DoseRecord{t, *amt, weight, DoseUnit::cells}, rec.line});
      }
      return;
    }
    if (mdv == 1) return;  // not an observation (e.g. a covariate-only record)

    Observation obs;
    obs.time_day = *time;
    obs.line = rec.line;
    obs.observable = observable_of(rec);
    obs.censored = flag(rec, columns_.cens, 0, 1) == 1;
    const auto dv = number(rec, columns_.dv, "a measured value (DV)");
    const auto lloq = number(rec, columns_.lloq, "a quantification limit (LLOQ)");
    if (lloq && *lloq <= 0.0) fail(rec.line, column_name(columns_.lloq), field(rec, columns_.lloq), "an LLOQ > 0");
    if (lloq) obs.lloq = *lloq;
    if (obs.censored) {
      if (!lloq && !dv)
        fail(rec.line, column_name(columns_.dv), field(rec, columns_.dv),
             "the quantification limit in DV or LLOQ for a censored record (CENS = 1)");
      obs.value = lloq ? *lloq : *dv;
    } else {
      if (!dv) fail(rec.line, column_name(columns_.dv), field(rec, columns_.dv), "a measured value on an observation (EVID = 0, MDV = 0)");
      obs.value = *dv;
    }
    for (const auto& o : subject.observations)
      if (o.time_day == obs.time_day && o.observable == obs.observable)
        throw InputError(name_ + ":" + std::to_string(rec.line) + ": duplicate observation for subject " + id +
                         " at TIME " + number_text(*time) + " of " + options_.observables[static_cast<std::size_t>(obs.observable)] +
                         " (same as line " + std::to_string(o.line) + "; expected one record per subject, time and DVID)");
    subject.observations.push_back(obs);
  }

  void check_subject(Subject& subject, std::vector<std::string>& warnings) const {
    std::stable_sort(subject.doses.begin(), subject.doses.end(),  // ADDL doses may come after later records
                     [](const SubjectDose& a, const SubjectDose& b) { return a.dose.time_day < b.dose.time_day; });
    if (options_.require_observations && subject.observations.empty())
      throw InputError(name_ + ":" + std::to_string(subject.first_line) + ": subject " + subject.id +
                       " has no observations (expected at least one record with EVID = 0 and MDV = 0)");
    // Weight for doses in cells: the dose row's WT, else the subject's.
    for (const auto& [cov, value] : subject.covariates)
      if (upper(cov) == "WT")
        for (auto& d : subject.doses)
          if (std::isnan(d.dose.weight_kg)) d.dose.weight_kg = value;
    for (std::size_t j = 0; j < options_.observables.size(); ++j) {
      const auto is_j = [j](const Observation& o) { return o.observable == static_cast<int>(j); };
      const auto n = std::count_if(subject.observations.begin(), subject.observations.end(), is_j);
      if (n > 1 && std::all_of(subject.observations.begin(), subject.observations.end(),
                               [&](const Observation& o) { return !is_j(o) || o.censored; }))
        warnings.push_back(name_ + ":" + std::to_string(subject.first_line) + ": all " + std::to_string(n) + " " +
                           options_.observables[j] + " records of subject " + subject.id +
                           " are below the quantification limit (they bound the fit but cannot determine it)");
    }
    for (const auto& o : subject.observations) {
      if (!o.censored && o.value < o.lloq)  // false when no LLOQ was given (NaN)
        warnings.push_back(name_ + ":" + std::to_string(o.line) + ": quantified value " + number_text(o.value) +
                           " is below its LLOQ " + number_text(o.lloq) +
                           " with CENS = 0 (a BLQ record has CENS = 1, DV = LLOQ)");
      for (const auto& d : subject.doses)
        if (d.dose.time_day == o.time_day)
          warnings.push_back(name_ + ":" + std::to_string(o.line) + ": observation at exactly the dose time of line " +
                                  std::to_string(d.line) + " (it is taken after the dose)");
      if (!o.censored) continue;
      for (const auto& later : subject.observations)
        if (later.time_day > o.time_day && later.observable == o.observable && !later.censored && later.value < o.value) {
          warnings.push_back(name_ + ":" + std::to_string(o.line) + ": BLQ record with limit " + number_text(o.value) +
                                  " above the quantified value " + number_text(later.value) + " at line " +
                                  std::to_string(later.line));
          break;
        }
    }
  }

  std::string name_;
  const DatasetOptions& options_;
  Columns columns_;
  double last_time_ = -1.0;
  static constexpr double kTenYearsDay = 3652.5;
  bool warned_long_time_ = false;                // one TIME-unit warning per file
  std::set<std::string> changing_covariates_;    // "subject\ncovariate" already warned about
};

}  // namespace

Dataset parse_dataset(const std::string& text, const std::string& name, const DatasetOptions& options) {
  return Parser(name, options).parse(text);
}

Dataset read_dataset(const std::filesystem::path& path, const DatasetOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open the dataset (expected a readable CSV file)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_dataset(buffer.str(), path.string(), options);
}

}  // namespace cartpk::io
