#pragma once
// NONMEM-style datasets (docs/dataset-format.md): one row per record, with columns ID, TIME (days since the
// CAR-T infusion; negative before it), EVID (0 observation, 1 dose, 2 other event), AMT (cells), DV, DVID (or
// CMT), CENS (or BLQ), MDV, optional LLOQ, CMT, RATE, ADDL, II, a NONMEM comment column C, and any further
// columns kept as covariates (numeric, or categorical text such as SEX = M/F). Separated by commas, semicolons,
// tabs or blanks (detected from the header, or chosen). '.' or an empty field is missing. CRLF line ends, a UTF-8
// BOM, double-quoted fields and comment lines are accepted. Every defect is an InputError naming file, line,
// column, the value found and what was expected; a dataset that fails validation yields nothing.
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/csv_reader.hpp"
#include "pkmodel/model.hpp"
#include "pkmodel/subject.hpp"

namespace cartpk::io {

// CAR-T dose plausibility bounds (cells per kg body weight): below kMinCarTCellsPerKg the AMT looks like cells/kg
// or millions of cells; above kMaxCarTCellsPerKg the dose holds more CAR+ cells than all white blood cells of a
// person (70 mL of blood per kg at an upper-normal 10^4 leukocytes/µL = 7e8 cells/kg).
inline constexpr double kMinCarTCellsPerKg = 1e3;
inline constexpr double kMaxCarTCellsPerKg = 7e8;

// One --ignore or --accept condition (NONMEM's IGNORE=(...) and ACCEPT=(...)): COLUMN OP VALUE.
struct RecordFilter {
  enum class Op { eq, ne, lt, le, gt, ge };
  bool accept = false;           // --accept (keep only records that meet it) or --ignore (drop those that do)
  std::string text;              // as given, for messages
  std::string column;            // upper case
  Op op = Op::eq;
  std::string value;
  std::optional<double> number;  // the value, when it is a number
};

// Parses "COLUMN OP VALUE", OP one of == != < <= > >= (or NONMEM's .EQ. .NE. .LT. .LE. .GT. .GE.; '=' is ==).
// Throws InputError naming the option and the text.
RecordFilter parse_record_filter(const std::string& text, bool accept);

struct DatasetOptions {
  std::string model;                            // for messages ("" when unknown)
  std::vector<std::string> observables;         // names DVID may take (the model's observables)
  std::vector<Role> roles;                      // per observable; empty: unknown (every observable counts as CAR-T)
  std::vector<std::string> states;              // CMT of a dose names one of these (1-based); empty: not checked
  int dose_state = -1;                          // the model's dose state (index), -1 when unknown
  std::map<std::string, std::string> dvid_map;  // DVID/CMT value -> observable name (--dvid 1=qpcr,2=flow)
  std::string default_observable;               // used when there is no DVID (or CMT) column ("" = DVID required)
  bool require_observations = true;             // a subject without observations is an error (fitting)
  Separator separator = Separator::detect;      // --sep
  std::vector<RecordFilter> filters;            // --ignore and --accept
};

// What the command line says about a dataset: --dvid, --sep, --ignore, --accept.
struct DatasetChoices {
  std::string dvid, sep;
  std::vector<std::string> ignore, accept;
};

// The reader's options for `model`: its observables and their roles, its states and dose state, and the choices;
// throws InputError naming the option (--dvid naming an observable the model lacks, a bad --sep or filter).
DatasetOptions dataset_options(const Model& model, const DatasetChoices& choices);

struct DatasetWarning {
  std::string kind;  // what the warnings of this kind have in common, for the summary
  std::string text;  // "file:line: ..." in full
  int line = 0;
};

enum class WarningDetail { summary, all, none };
WarningDetail parse_warning_detail(const std::string& text, const std::string& option);  // summary|all|none
// The lines to print: every warning (all); one per kind with its count and first three lines (summary); none.
std::vector<std::string> warning_lines(const std::vector<DatasetWarning>& warnings, WarningDetail detail);

struct Dataset {
  std::string path;
  Separator separator = Separator::comma;   // as read (detected or chosen)
  std::vector<std::string> observables;     // as in DatasetOptions
  std::vector<std::string> covariate_names;    // numeric covariates, in column order
  std::vector<std::string> categorical_names;  // text covariates (SEX = M/F, product names)
  std::vector<Subject> subjects;
  std::vector<DatasetWarning> warnings;     // legal but suspicious
  std::size_t dropped_records = 0;          // by the C column, C comment rows, --ignore and --accept
  std::size_t skipped_observations = 0;     // observation types the model does not have
};

Dataset read_dataset(const std::filesystem::path& path, const DatasetOptions& options);

// The same, from text (for tests and fuzzing); `name` stands for the file in messages.
Dataset parse_dataset(const std::string& text, const std::string& name, const DatasetOptions& options);

// For a model that starts at the infusion (not defined_before_infusion()): removes the observations before it
// (TIME < 0) from `subjects` and returns one note saying how many and where ("" when none, or when the model is
// defined there). Throws InputError when a subject is left without observations.
std::string leave_out_before_infusion(const Model& model, std::vector<Subject>& subjects, const std::string& source);

}  // namespace cartpk::io
