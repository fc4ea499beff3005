#include "io/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
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
bool same_text(const std::string& a, const std::string& b) { return upper(a) == upper(b); }  // case-insensitive
bool is_missing(const std::string& field) { return field.empty() || field == "."; }
std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}
std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}
std::string lines_text(const std::vector<int>& lines, std::size_t shown = 3) {
  std::string out;
  for (std::size_t k = 0; k < lines.size() && k < shown; ++k) out += (k ? ", " : "") + std::to_string(lines[k]);
  return out + (lines.size() > shown ? ", ..." : "");
}

// A finite number written in full (no trailing text), or nothing. Never throws.
std::optional<double> as_number(const std::string& text) {
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// Warning kinds: what the warnings of a kind have in common (the summary groups by it).
constexpr const char* kTimeUnit = "TIME beyond 10 years";
constexpr const char* kCovariateChanges = "covariate changing within a subject";
constexpr const char* kBelowLloq = "quantified value below its LLOQ";
constexpr const char* kAllBlq = "every record of an observable BLQ";
constexpr const char* kAtDose = "CAR-T observation at a dose time";
constexpr const char* kBlqAbove = "BLQ limit above a later quantified value";
constexpr const char* kHbUnit = "hemoglobin in g/dL";
constexpr const char* kCellsPerKg = "AMT in cells/kg";
constexpr const char* kTooManyCells = "dose above all white blood cells";
constexpr const char* kSkippedTypes = "observation types the model does not have";

// Column positions; -1 when absent.
struct Columns {
  int id = -1, time = -1, evid = -1, amt = -1, dv = -1, dvid = -1, cens = -1, mdv = -1, lloq = -1, cmt = -1;
  int addl = -1, ii = -1, rate = -1, ss = -1;  // NONMEM dosing columns
  int comment = -1;                            // NONMEM's C column: a value drops the record
  int wt = -1;                                 // the WT covariate, needed for doses in cells
  std::vector<std::pair<std::string, int>> covariates;
  std::vector<std::string> names;
};

class Parser {
 public:
  Parser(std::string name, const DatasetOptions& options) : name_(std::move(name)), options_(options) {}

  Dataset parse(const std::string& text) {
    Dataset data;
    data.path = name_;
    data.separator = options_.separator == Separator::detect ? detect_separator(text) : options_.separator;
    const auto records = split_csv(text, name_, data.separator);
    if (records.empty()) throw InputError(name_ + ": the file is empty (expected a header row and records)");
    read_header(records.front());
    if (records.size() == 1)
      throw InputError(name_ + ":" + std::to_string(records.front().line) +
                       ": header only, no records (expected at least one row after the header)");
    data.observables = options_.observables;
    categorical_.assign(columns_.covariates.size(), false);
    std::set<std::string> finished;  // subjects whose block has ended
    for (std::size_t r = 1; r < records.size(); ++r) read_record(records[r], data, finished);
    finish_covariates(data);
    for (std::size_t s = 0; s < data.subjects.size(); ++s) check_subject(data.subjects[s], skipped_of_subject_[s], data.warnings);
    report_skipped(data);
    return data;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& column, const std::string& found, const std::string& expected) const {
    throw InputError(name_ + ":" + std::to_string(line) + ": column " + column + ": found '" + found + "', expected " +
                     expected);
  }
  void warn(Dataset& data, const char* kind, int line, const std::string& text) const {
    data.warnings.push_back({kind, name_ + ":" + std::to_string(line) + ": " + text, line});
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
      else if (key == "CENS" || key == "BLQ") {
        if (columns_.cens >= 0)
          fail(header.line, raw, raw, "one of CENS and BLQ (BLQ is a synonym of CENS), not both");
        columns_.cens = c;
      }
      else if (key == "MDV") columns_.mdv = c;
      else if (key == "LLOQ") columns_.lloq = c;
      else if (key == "CMT") columns_.cmt = c;
      else if (key == "C") columns_.comment = c;
      else if (key == "ADDL") columns_.addl = c;
      else if (key == "II") columns_.ii = c;
      else if (key == "RATE") columns_.rate = c;
      else if (key == "SS") columns_.ss = c;
      else {
        if (key == "WT") columns_.wt = c;
        columns_.covariates.emplace_back(raw, c);
      }
    }
    // The observation type: DVID; else CMT, unless --dvid names the one observable without mapping numbers.
    type_column_ = columns_.dvid;
    if (type_column_ < 0 && columns_.cmt >= 0 && (!options_.dvid_map.empty() || options_.default_observable.empty()))
      type_column_ = columns_.cmt;
    std::string missing;
    for (const auto& [col, label] : {std::pair{columns_.id, "ID"}, {columns_.time, "TIME"}, {columns_.dv, "DV"}})
      if (col < 0) missing += std::string(missing.empty() ? "" : ", ") + label;
    if (columns_.amt >= 0 && columns_.evid < 0) missing += std::string(missing.empty() ? "" : ", ") + "EVID (AMT is present)";
    if (type_column_ < 0 && options_.default_observable.empty())
      missing += std::string(missing.empty() ? "" : ", ") + "DVID (or CMT, or name the observable with --dvid)";
    if (!missing.empty())
      throw InputError(name_ + ":" + std::to_string(header.line) + ": missing required column(s) " + missing +
                       " (expected ID, TIME, EVID, AMT, DV, DVID; CENS, MDV, LLOQ and covariates optional; the header "
                       "is the first line that is not blank or a comment)");
    for (const auto& filter : options_.filters) {
      const auto it = std::find_if(columns_.names.begin(), columns_.names.end(),
                                   [&](const std::string& n) { return upper(n) == filter.column; });
      if (it == columns_.names.end())
        throw InputError(std::string(filter.accept ? "--accept" : "--ignore") + " '" + filter.text + "': " + name_ +
                         " has no column " + filter.column + " (expected one of: " + join(columns_.names) + ")");
      filters_.emplace_back(&filter, static_cast<int>(it - columns_.names.begin()));
    }
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
      fail(rec.line, column_name(col), text,
           expected + (text.find(',') != std::string::npos ? " (numbers take a decimal point, not a decimal comma)" : ""));
    if (ec == std::errc::result_out_of_range || !std::isfinite(value))
      fail(rec.line, column_name(col), text, "a finite number: " + expected);
    return value;
  }

  int flag(const CsvRecord& rec, int col, int fallback) const {
    const auto v = number(rec, col, "0 or 1");
    if (!v) return fallback;
    if (*v != 0.0 && *v != 1.0) fail(rec.line, column_name(col), field(rec, col), "0 or 1");
    return static_cast<int>(*v);
  }

  int dosing_count(const CsvRecord& rec, int col) const {  // ADDL: a whole number >= 0 ('.' is 0)
    const auto v = number(rec, col, "ADDL, a whole number of additional doses >= 0");
    if (!v) return 0;
    if (*v < 0.0 || *v != std::floor(*v) || *v > 10000.0)
      fail(rec.line, column_name(col), field(rec, col), "ADDL, a whole number of additional doses from 0 to 10000");
    return static_cast<int>(*v);
  }

  // --ignore / --accept: whether the record's field meets the condition. A missing field meets none.
  bool holds(const CsvRecord& rec, const RecordFilter& filter, int col) const {
    const std::string& text = field(rec, col);
    if (is_missing(text)) return false;
    using Op = RecordFilter::Op;
    if (filter.number) {
      if (const auto v = as_number(text)) {
        switch (filter.op) {
          case Op::eq: return *v == *filter.number;
          case Op::ne: return *v != *filter.number;
          case Op::lt: return *v < *filter.number;
          case Op::le: return *v <= *filter.number;
          case Op::gt: return *v > *filter.number;
          case Op::ge: return *v >= *filter.number;
        }
      }
      if (filter.op != Op::eq && filter.op != Op::ne)
        fail(rec.line, column_name(col), text,
             std::string("a number to compare for ") + (filter.accept ? "--accept" : "--ignore") + " '" + filter.text + "'");
    }
    const bool equal = same_text(text, filter.value);
    return filter.op == Op::eq ? equal : !equal;
  }

  // Records NONMEM would not read: C comment rows, a value in the C column, --ignore and --accept.
  bool dropped(const CsvRecord& rec) const {
    if (rec.fields.front() == "C") return true;  // IGNORE=C, whatever the row holds
    if (columns_.comment == 0 && !is_missing(rec.fields.front())) return true;
    if (rec.fields.size() != columns_.names.size())
      throw InputError(name_ + ":" + std::to_string(rec.line) + ": " + std::to_string(rec.fields.size()) +
                       " fields, expected " + std::to_string(columns_.names.size()) + " as in the header" +
                       (data_separator_hint(rec)));
    if (columns_.comment >= 0 && !is_missing(field(rec, columns_.comment))) return true;
    for (const auto& [filter, col] : filters_) {
      const bool met = holds(rec, *filter, col);
      if (filter->accept ? !met : met) return true;
    }
    return false;
  }
  std::string data_separator_hint(const CsvRecord& rec) const {
    if (rec.fields.size() != 1 || columns_.names.size() == 1) return "";
    return " (is the file separated by another character than the header? --sep chooses the separator)";
  }

  // The observable a record is of; -1 for a type the model does not have when --dvid maps only some types.
  int observable_of(const CsvRecord& rec, std::size_t subject) {
    std::string name = options_.default_observable;
    const bool typed = type_column_ >= 0 && !is_missing(field(rec, type_column_));
    if (typed) {
      const std::string& raw = field(rec, type_column_);
      name = raw;
      if (const auto mapped = mapped_name(raw)) name = *mapped;
    }
    for (std::size_t i = 0; i < options_.observables.size(); ++i)
      if (same_text(options_.observables[i], name)) return static_cast<int>(i);
    if (typed && !options_.dvid_map.empty()) {
      auto& entry = skipped_[field(rec, type_column_)];
      if (entry.empty()) skipped_order_.push_back(field(rec, type_column_));
      entry.push_back(rec.line);
      ++skipped_of_subject_[subject];
      return -1;
    }
    fail(rec.line, type_column_ >= 0 ? column_name(type_column_) : "DVID", name,
         "an observable of the model (" + join(options_.observables) + "), or a number mapped with --dvid N=name");
  }

  std::optional<std::string> mapped_name(const std::string& raw) const {
    if (const auto it = options_.dvid_map.find(raw); it != options_.dvid_map.end()) return it->second;
    const auto v = as_number(raw);  // 1.0 is 1
    for (const auto& [key, value] : options_.dvid_map) {
      const auto k = as_number(key);
      if (v ? (k && *k == *v) : same_text(key, raw)) return value;
    }
    return std::nullopt;
  }

  // CMT on a dose: the state (index) that receives it; -1 for the model's dose state.
  int dose_compartment(const CsvRecord& rec) const {
    if (columns_.cmt < 0 || is_missing(field(rec, columns_.cmt))) return -1;
    const std::string& text = field(rec, columns_.cmt);
    for (std::size_t i = 0; i < options_.states.size(); ++i)
      if (same_text(options_.states[i], text)) return static_cast<int>(i);
    const auto v = as_number(text);
    const double n = static_cast<double>(options_.states.size());
    if (v && *v >= 1.0 && *v == std::floor(*v) && *v <= (options_.states.empty() ? 1e6 : n)) return static_cast<int>(*v) - 1;
    std::string expected = "on a dose record (EVID = 1), CMT the number of the state that receives it";
    if (!options_.states.empty()) {
      std::vector<std::string> numbered;
      for (std::size_t i = 0; i < options_.states.size(); ++i) numbered.push_back(std::to_string(i + 1) + " " + options_.states[i]);
      expected += ", from 1 to " + std::to_string(options_.states.size()) + " (" + join(numbered) + ")";
    } else {
      expected += ", a whole number >= 1";
    }
    expected += ", or '.' for the model's dose state";
    if (options_.dose_state >= 0 && static_cast<std::size_t>(options_.dose_state) < options_.states.size())
      expected += " (" + std::to_string(options_.dose_state + 1) + " " + options_.states[static_cast<std::size_t>(options_.dose_state)] + ")";
    fail(rec.line, column_name(columns_.cmt), text, expected);
  }

  void read_covariates(const CsvRecord& rec, std::size_t subject, Dataset& data) {
    auto& first = covariate_text_[subject];
    for (std::size_t k = 0; k < columns_.covariates.size(); ++k) {
      const auto& [cov, col] = columns_.covariates[k];
      const std::string& text = field(rec, col);
      if (is_missing(text)) continue;
      if (col == columns_.wt) (void)number(rec, col, "a body weight in kg (covariate " + cov + ")");  // used for doses
      else if (!as_number(text)) categorical_[k] = true;  // a text covariate
      const auto [it, inserted] = first.try_emplace(k, text);
      if (inserted) continue;
      const auto a = as_number(it->second), b = as_number(text);
      const bool same = a && b ? *a == *b : it->second == text;
      if (!same && changing_covariates_.insert({subject, k}).second)
        warn(data, kCovariateChanges, rec.line,
             "covariate " + cov + " of subject " + data.subjects[subject].id + " changes from " + it->second + " to " +
                 text + " (the subject's first value is used; time-varying covariates are not modelled)");
    }
  }

  void finish_covariates(Dataset& data) const {
    for (std::size_t k = 0; k < columns_.covariates.size(); ++k)
      (categorical_[k] ? data.categorical_names : data.covariate_names).push_back(columns_.covariates[k].first);
    for (std::size_t s = 0; s < data.subjects.size(); ++s)
      for (const auto& [k, text] : covariate_text_[s]) {
        const std::string& cov = columns_.covariates[k].first;
        if (categorical_[k]) data.subjects[s].categorical[cov] = text;
        else data.subjects[s].covariates[cov] = *as_number(text);
      }
  }

  void read_record(const CsvRecord& rec, Dataset& data, std::set<std::string>& finished) {
    if (dropped(rec)) {
      ++data.dropped_records;
      return;
    }
    const std::string& id = field(rec, columns_.id);
    if (is_missing(id)) fail(rec.line, column_name(columns_.id), id, "a subject identifier");
    if (data.subjects.empty() || data.subjects.back().id != id) {
      if (!data.subjects.empty()) finished.insert(data.subjects.back().id);
      if (finished.count(id))
        throw InputError(name_ + ":" + std::to_string(rec.line) + ": records of subject " + id +
                         " are not contiguous (expected all records of a subject together, sorted by TIME)");
      Subject subject;
      subject.id = id;
      subject.first_line = rec.line;
      data.subjects.push_back(std::move(subject));
      covariate_text_.emplace_back();
      skipped_of_subject_.push_back(0);
      last_time_ = -std::numeric_limits<double>::infinity();
    }
    const std::size_t s = data.subjects.size() - 1;
    Subject& subject = data.subjects.back();

    const auto time = number(rec, columns_.time, "a time in days since the infusion (negative before it)");
    if (!time) fail(rec.line, column_name(columns_.time), field(rec, columns_.time), "a time in days since the infusion");
    if (*time < last_time_)
      fail(rec.line, column_name(columns_.time), field(rec, columns_.time),
           "times in non-decreasing order within subject " + id + " (previous " + number_text(last_time_) + ")");
    last_time_ = *time;

    if (*time > kTenYearsDay && !warned_long_time_) {
      warned_long_time_ = true;
      warn(data, kTimeUnit, rec.line,
           "TIME " + number_text(*time) + " is beyond 10 years (TIME is in days; hours or another unit?)");
    }
    read_covariates(rec, s, data);

    int evid = 0;
    if (const auto v = number(rec, columns_.evid, "EVID 0 (observation), 1 (dose) or 2 (other event)")) {
      if (*v == 3.0 || *v == 4.0)
        fail(rec.line, column_name(columns_.evid), field(rec, columns_.evid),
             "EVID 0 (observation), 1 (dose) or 2 (other event): EVID 3 and 4 (system resets) are not supported");
      if (*v != 0.0 && *v != 1.0 && *v != 2.0)
        fail(rec.line, column_name(columns_.evid), field(rec, columns_.evid), "EVID 0 (observation), 1 (dose) or 2 (other event)");
      evid = static_cast<int>(*v);
    }
    const auto rate = number(rec, columns_.rate, "RATE 0 (a bolus) or an infusion rate > 0 in cells/day");
    if (rate && *rate != 0.0) {
      if (evid != 1) fail(rec.line, column_name(columns_.rate), field(rec, columns_.rate), "RATE only on a dose record (EVID = 1)");
      if (*rate == -1.0 || *rate == -2.0)
        fail(rec.line, column_name(columns_.rate), field(rec, columns_.rate),
             "RATE 0 (a bolus) or > 0 in cells/day (an infusion over AMT/RATE days): RATE = -1 and -2 (rate or "
             "duration set by the model) are not supported");
      if (*rate < 0.0)
        fail(rec.line, column_name(columns_.rate), field(rec, columns_.rate), "RATE 0 (a bolus) or > 0 in cells/day");
    }
    if (const auto ss = number(rec, columns_.ss, "SS = 0"); ss && *ss != 0.0)
      fail(rec.line, column_name(columns_.ss), field(rec, columns_.ss),
           "SS = 0 or '.': steady-state dosing is not supported (expand the doses, or use ADDL and II)");
    if (evid != 1 && dosing_count(rec, columns_.addl) > 0)
      fail(rec.line, column_name(columns_.addl), field(rec, columns_.addl), "ADDL only on a dose record (EVID = 1)");
    const int mdv = flag(rec, columns_.mdv, evid == 0 ? 0 : 1);
    if (evid == 2) {  // another event: covariates only, nothing to fit
      if (mdv == 0) fail(rec.line, column_name(columns_.mdv), field(rec, columns_.mdv), "MDV = 1 on an other-event record (EVID = 2)");
      return;
    }
    if (evid == 1) {
      read_dose(rec, *time, rate.value_or(0.0), mdv, subject);
      return;
    }
    if (mdv == 1) return;  // not an observation (e.g. a covariate-only record)

    Observation obs;
    obs.time_day = *time;
    obs.line = rec.line;
    obs.observable = observable_of(rec, s);
    if (obs.observable < 0) return;  // a type the model does not have, summarised at the end
    obs.censored = flag(rec, columns_.cens, 0) == 1;
    const auto dv = number(rec, columns_.dv, "a measured value (DV)");
    const auto lloq = number(rec, columns_.lloq, "a quantification limit (LLOQ)");
    if (lloq && *lloq <= 0.0) fail(rec.line, column_name(columns_.lloq), field(rec, columns_.lloq), "an LLOQ > 0");
    if (lloq) obs.lloq = *lloq;
    if (obs.censored) {
      if (!lloq && !dv)
        fail(rec.line, column_name(columns_.dv), field(rec, columns_.dv),
             "the quantification limit in DV or LLOQ for a censored record (" + column_name(columns_.cens) + " = 1)");
      obs.value = lloq ? *lloq : *dv;
    } else {
      if (!dv) fail(rec.line, column_name(columns_.dv), field(rec, columns_.dv), "a measured value on an observation (EVID = 0, MDV = 0)");
      obs.value = *dv;
      if (role(obs.observable) == Role::hemoglobin && obs.value < 25.0)
        warn(data, kHbUnit, rec.line,
             "hemoglobin " + number_text(obs.value) + " of subject " + id + " looks like g/dL (expected g/L: " +
                 number_text(obs.value) + " g/dL is " + number_text(10.0 * obs.value) + " g/L)");
    }
    subject.observations.push_back(obs);  // replicates at the same time are legitimate
  }

  void read_dose(const CsvRecord& rec, double time, double rate, int mdv, Subject& subject) const {
    const std::string& id = subject.id;
    if (time < 0.0)
      fail(rec.line, column_name(columns_.time), field(rec, columns_.time),
           "a dose time >= 0 (TIME is days since the CAR-T infusion; records before it are observations or EVID = 2 rows)");
    if (columns_.mdv >= 0 && mdv == 0) fail(rec.line, column_name(columns_.mdv), field(rec, columns_.mdv), "MDV = 1 on a dose record (EVID = 1)");
    const auto amt = number(rec, columns_.amt, "a dose in cells > 0");
    if (!amt || *amt <= 0.0)
      fail(rec.line, columns_.amt >= 0 ? column_name(columns_.amt) : "AMT",
           columns_.amt >= 0 ? field(rec, columns_.amt) : "", "a dose in cells > 0 on a dose record (EVID = 1)");
    const double weight = columns_.wt >= 0 ? number(rec, columns_.wt, "a body weight in kg").value_or(std::nan("")) : std::nan("");
    const int compartment = dose_compartment(rec);
    const double duration = rate > 0.0 ? *amt / rate : 0.0;  // NONMEM: RATE = AMT/duration
    // ADDL further doses every II days (NONMEM); each must fall on a time without another dose.
    const int additional = dosing_count(rec, columns_.addl);
    const double interval = number(rec, columns_.ii, "an interval II in days > 0").value_or(0.0);
    if (additional > 0 && !(interval > 0.0))
      fail(rec.line, columns_.ii >= 0 ? column_name(columns_.ii) : "II", columns_.ii >= 0 ? field(rec, columns_.ii) : "",
           "an interval II > 0 days with ADDL = " + std::to_string(additional));
    for (int k = 0; k <= additional; ++k) {
      const double t = time + k * interval;
      for (const auto& d : subject.doses)
        if (d.dose.time_day == t)
          throw InputError(name_ + ":" + std::to_string(rec.line) + ": duplicate dose record for subject " + id +
                           " at TIME " + number_text(t) + (k > 0 ? " (the " + std::to_string(k) + ". of ADDL)" : "") +
                           " (same as line " + std::to_string(d.line) +
                           "; expected one dose record per subject and time)");
      subject.doses.push_back({DoseRecord{t, *amt, weight, DoseUnit::cells, compartment, duration}, rec.line});
    }
  }

  [[nodiscard]] Role role(int observable) const {
    const auto j = static_cast<std::size_t>(observable);
    return j < options_.roles.size() ? options_.roles[j] : Role::car_t;  // unknown roles: treated as CAR-T
  }
  [[nodiscard]] bool is_car_t(int observable) const {
    const Role r = role(observable);
    return r == Role::car_t || r == Role::transgene;
  }
  [[nodiscard]] bool is_car_t_dose(const DoseRecord& dose) const {
    return dose.compartment < 0 || dose.compartment == options_.dose_state;
  }

  void check_subject(Subject& subject, std::size_t skipped, std::vector<DatasetWarning>& warnings) const {
    const auto warn_at = [&](const char* kind, int line, const std::string& text) {
      warnings.push_back({kind, name_ + ":" + std::to_string(line) + ": " + text, line});
    };
    std::stable_sort(subject.doses.begin(), subject.doses.end(),  // ADDL doses may come after later records
                     [](const SubjectDose& a, const SubjectDose& b) { return a.dose.time_day < b.dose.time_day; });
    if (options_.require_observations && subject.observations.empty())
      throw InputError(name_ + ":" + std::to_string(subject.first_line) + ": subject " + subject.id +
                       " has no observations (expected at least one record with EVID = 0 and MDV = 0" +
                       (skipped > 0 ? " of an observable of the model; its " + std::to_string(skipped) +
                                          " observation(s) are of types the model does not have"
                                    : std::string()) +
                       ")");
    // Weight for doses in cells: the dose row's WT, else the subject's.
    if (const auto it = subject.covariates.find(columns_.wt >= 0 ? column_name(columns_.wt) : ""); it != subject.covariates.end())
      for (auto& d : subject.doses)
        if (std::isnan(d.dose.weight_kg)) d.dose.weight_kg = it->second;
    for (const auto& d : subject.doses) {
      if (!is_car_t_dose(d.dose) || !(d.dose.weight_kg > 0.0)) continue;
      const double per_kg = d.dose.amount / d.dose.weight_kg;
      const std::string what = "AMT " + number_text(d.dose.amount) + " cells of subject " + subject.id + " with WT " +
                               number_text(d.dose.weight_kg) + " kg is " + number_text(per_kg) + " cells/kg";
      if (per_kg < kMinCarTCellsPerKg)
        warn_at(kCellsPerKg, d.line, what + ", below 1e3 cells/kg: is AMT in cells/kg or in millions of cells? "
                                            "(expected CAR+ cells; CAR-T doses are about 1e5 to 1e7 cells/kg)");
      else if (per_kg > kMaxCarTCellsPerKg)
        warn_at(kTooManyCells, d.line, what + ", more CAR+ cells than all white blood cells of a person (about 7e8 "
                                              "per kg: 70 mL/kg of blood at 1e4 cells/µL); is AMT in cells?");
    }
    for (std::size_t j = 0; j < options_.observables.size(); ++j) {
      const auto is_j = [j](const Observation& o) { return o.observable == static_cast<int>(j); };
      const auto n = std::count_if(subject.observations.begin(), subject.observations.end(), is_j);
      if (n > 1 && std::all_of(subject.observations.begin(), subject.observations.end(),
                               [&](const Observation& o) { return !is_j(o) || o.censored; }))
        warn_at(kAllBlq, subject.first_line,
                "all " + std::to_string(n) + " " + options_.observables[j] + " records of subject " + subject.id +
                    " are below the quantification limit (they bound the fit but cannot determine it)");
    }
    for (const auto& o : subject.observations) {
      if (!o.censored && o.value < o.lloq)  // false when no LLOQ was given (NaN)
        warn_at(kBelowLloq, o.line, "quantified value " + number_text(o.value) + " is below its LLOQ " + number_text(o.lloq) +
                                        " with CENS = 0 (a BLQ record has CENS = 1, DV = LLOQ)");
      if (is_car_t(o.observable))  // other observables (B cells, Hb) do not jump at a CAR-T dose: a baseline
        for (const auto& d : subject.doses)
          if (d.dose.time_day == o.time_day && is_car_t_dose(d.dose))
            warn_at(kAtDose, o.line, "observation at exactly the dose time of line " + std::to_string(d.line) +
                                         " (it is taken after the dose)");
      if (!o.censored) continue;
      for (const auto& later : subject.observations)
        if (later.time_day > o.time_day && later.observable == o.observable && !later.censored && later.value < o.value) {
          warn_at(kBlqAbove, o.line, "BLQ record with limit " + number_text(o.value) + " above the quantified value " +
                                         number_text(later.value) + " at line " + std::to_string(later.line));
          break;
        }
    }
  }

  void report_skipped(Dataset& data) const {
    if (skipped_order_.empty()) return;
    std::size_t total = 0;
    std::string types;
    int first_line = std::numeric_limits<int>::max();
    for (const auto& type : skipped_order_) {
      const auto& lines = skipped_.at(type);
      total += lines.size();
      first_line = std::min(first_line, lines.front());
      types += (types.empty() ? "" : "; ") + type + " (" + std::to_string(lines.size()) + " at line" +
               (lines.size() > 1 ? "s " : " ") + lines_text(lines) + ")";
    }
    data.skipped_observations = total;
    std::vector<std::string> mapped;
    for (const auto& [key, value] : options_.dvid_map) mapped.push_back(key + "=" + value);
    warn(data, kSkippedTypes, first_line,
         std::to_string(total) + " observation(s) of types " +
             (options_.model.empty() ? std::string("the model") : "model " + options_.model) +
             " does not have are skipped: " + types + " (--dvid maps " + join(mapped) + ")");
  }

  std::string name_;
  const DatasetOptions& options_;
  Columns columns_;
  int type_column_ = -1;                                   // DVID, or CMT standing in for it
  std::vector<std::pair<const RecordFilter*, int>> filters_;  // with their column
  double last_time_ = 0.0;
  static constexpr double kTenYearsDay = 3652.5;
  bool warned_long_time_ = false;                          // one TIME-unit warning per file
  std::set<std::pair<std::size_t, std::size_t>> changing_covariates_;  // (subject, covariate) already warned about
  std::vector<bool> categorical_;                          // per covariate column: a text value was seen
  std::vector<std::map<std::size_t, std::string>> covariate_text_;  // per subject: first value per covariate
  std::vector<std::size_t> skipped_of_subject_;            // per subject: observations of unknown types
  std::map<std::string, std::vector<int>> skipped_;        // unknown type -> its lines
  std::vector<std::string> skipped_order_;                 // unknown types in order of appearance
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.push_back(trim(text.substr(start, end == std::string::npos ? std::string::npos : end - start)));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

}  // namespace

RecordFilter parse_record_filter(const std::string& text, bool accept) {
  const std::string option = accept ? "--accept" : "--ignore";
  const auto bad = [&](const std::string& why) {
    return InputError(option + " '" + text + "': " + why + " (expected COLUMN OP VALUE with OP one of ==, !=, <, <=, >, >=, e.g. " +
                      (accept ? "--accept \"TIME<=365\")" : "--ignore \"DVID==5\")"));
  };
  using Op = RecordFilter::Op;
  RecordFilter filter;
  filter.accept = accept;
  filter.text = text;
  std::size_t at = std::string::npos, length = 0;
  const std::string up = upper(text);
  for (const auto& [word, op] : {std::pair{".EQ.", Op::eq}, {".NE.", Op::ne}, {".LT.", Op::lt}, {".LE.", Op::le},
                                 {".GT.", Op::gt}, {".GE.", Op::ge}})
    if (const auto pos = up.find(word); pos != std::string::npos && pos < at) {
      at = pos;
      length = 4;
      filter.op = op;
    }
  if (const auto pos = text.find_first_of("=!<>"); pos != std::string::npos && pos < at) {
    at = pos;
    const char c = text[pos];
    const bool eq_next = pos + 1 < text.size() && text[pos + 1] == '=';
    length = eq_next ? 2 : 1;
    if (c == '!' && !eq_next) throw bad("'!' without '='");
    filter.op = c == '=' ? Op::eq : c == '!' ? Op::ne : c == '<' ? (eq_next ? Op::le : Op::lt) : (eq_next ? Op::ge : Op::gt);
  }
  if (at == std::string::npos) throw bad("no comparison");
  filter.column = upper(trim(text.substr(0, at)));
  filter.value = trim(text.substr(at + length));
  if (filter.value.size() >= 2 && (filter.value.front() == '"' || filter.value.front() == '\'') &&
      filter.value.back() == filter.value.front())
    filter.value = filter.value.substr(1, filter.value.size() - 2);
  if (filter.column.empty()) throw bad("no column name before the comparison");
  if (filter.value.empty() || filter.value.find_first_of("=<>!") != std::string::npos)
    throw bad("no single value after the comparison");
  filter.number = as_number(filter.value);
  if (!filter.number && filter.op != Op::eq && filter.op != Op::ne)
    throw bad("'" + filter.value + "' is not a number, and text compares only with == and !=");
  return filter;
}

DatasetOptions dataset_options(const Model& model, const DatasetChoices& choices) {
  DatasetOptions options;
  options.model = std::string(model.name());
  for (const auto& o : model.observables()) {
    options.observables.emplace_back(o.name);
    options.roles.push_back(o.role);
  }
  for (const auto& s : model.states()) options.states.emplace_back(s.name);
  options.dose_state = model.accepts_doses() ? model.dose_state() : -1;
  if (!choices.dvid.empty())
    for (const auto& entry : split(choices.dvid, ',')) {
      const auto eq = entry.find('=');
      const std::string name = trim(eq == std::string::npos ? entry : entry.substr(eq + 1));
      const auto it = std::find_if(options.observables.begin(), options.observables.end(),
                                   [&](const std::string& o) { return same_text(o, name); });
      if (it == options.observables.end())
        throw InputError("--dvid '" + entry + "': model " + options.model + " has no observable '" + name +
                         "' (expected N=name or one name, name one of: " + join(options.observables) + ")");
      if (eq == std::string::npos) {
        options.default_observable = *it;  // no DVID column: every record is this
      } else {
        const std::string key = trim(entry.substr(0, eq));
        if (key.empty()) throw InputError("--dvid '" + entry + "': expected N=name with a DVID value N before '='");
        options.dvid_map[key] = *it;
      }
    }
  if (!choices.sep.empty()) options.separator = parse_separator(choices.sep, "--sep");
  for (const auto& text : choices.ignore) options.filters.push_back(parse_record_filter(text, false));
  for (const auto& text : choices.accept) options.filters.push_back(parse_record_filter(text, true));
  return options;
}

WarningDetail parse_warning_detail(const std::string& text, const std::string& option) {
  if (text == "summary") return WarningDetail::summary;
  if (text == "all") return WarningDetail::all;
  if (text == "none") return WarningDetail::none;
  throw InputError(option + " '" + text + "': expected summary (one line per kind, the default), all or none");
}

std::vector<std::string> warning_lines(const std::vector<DatasetWarning>& warnings, WarningDetail detail) {
  std::vector<std::string> out;
  if (detail == WarningDetail::none) return out;
  if (detail == WarningDetail::all) {
    for (const auto& w : warnings) out.push_back(w.text);
    return out;
  }
  std::vector<std::string> kinds;  // in order of first appearance
  std::map<std::string, std::vector<const DatasetWarning*>> by_kind;
  for (const auto& w : warnings) {
    auto& list = by_kind[w.kind];
    if (list.empty()) kinds.push_back(w.kind);
    list.push_back(&w);
  }
  for (const auto& kind : kinds) {
    const auto& list = by_kind.at(kind);
    std::string line = list.front()->text;
    if (list.size() > 1) {
      std::vector<int> lines;
      for (const auto* w : list) lines.push_back(w->line);
      line += " [" + std::to_string(list.size()) + " warnings of this kind (" + kind + "), at lines " + lines_text(lines) +
              (list.size() > 3 ? "; --warnings all prints each" : "") + "]";
    }
    out.push_back(line);
  }
  return out;
}

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

std::string leave_out_before_infusion(const Model& model, std::vector<Subject>& subjects, const std::string& source) {
  if (model.defined_before_infusion()) return {};
  std::vector<int> lines;
  std::size_t n_subjects = 0;
  for (auto& s : subjects) {
    const auto before = [](const Observation& o) { return o.time_day < 0.0; };
    const auto n = std::count_if(s.observations.begin(), s.observations.end(), before);
    if (n == 0) continue;
    ++n_subjects;
    for (const auto& o : s.observations)
      if (before(o)) lines.push_back(o.line);
    std::erase_if(s.observations, before);
    if (s.observations.empty())
      throw InputError(source + ":" + std::to_string(s.first_line) + ": subject " + s.id + " has no observations from the " +
                       "infusion on (its " + std::to_string(n) + " record(s) are before it, TIME < 0, and model " +
                       std::string(model.name()) + " starts at the infusion; expected records with TIME >= 0)");
  }
  if (lines.empty()) return {};
  std::sort(lines.begin(), lines.end());
  return source + ": " + std::to_string(lines.size()) + " record(s) before the infusion (TIME < 0) of " +
         std::to_string(n_subjects) + " subject(s) are left out of the fit: model " + std::string(model.name()) +
         " starts at the infusion (line" + (lines.size() > 1 ? "s " : " ") + lines_text(lines) + ")";
}

}  // namespace cartpk::io
