#pragma once
// NONMEM-style datasets (docs/dataset-format.md): one CSV row per record, with columns
// ID, TIME (day), EVID (0 observation, 1 dose), AMT (cells), DV, DVID, CENS, MDV, optional LLOQ, and any
// further columns kept as covariates (WT, AGE, ...). '.' or an empty field is missing. CRLF line ends, a UTF-8
// BOM and double-quoted fields are accepted. Every defect is an InputError naming file, line, column, the value
// found and what was expected; a dataset that fails validation yields nothing.
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pkmodel/model.hpp"
#include "pkmodel/subject.hpp"

namespace cartpk::io {

struct DatasetOptions {
  std::vector<std::string> observables;         // names DVID may take (the model's observables)
  std::map<std::string, std::string> dvid_map;  // numeric DVID -> observable name (--dvid 1=qpcr,2=flow)
  std::string default_observable;               // used when there is no DVID column ("" = DVID required)
  bool require_observations = true;             // a subject without observations is an error (fitting)
};

struct Dataset {
  std::string path;
  std::vector<std::string> observables;  // as in DatasetOptions
  std::vector<std::string> covariate_names;
  std::vector<Subject> subjects;
  std::vector<std::string> warnings;  // legal but suspicious (file:line: ...)
};

Dataset read_dataset(const std::filesystem::path& path, const DatasetOptions& options);

// The same, from text (for tests and fuzzing); `name` stands for the file in messages.
Dataset parse_dataset(const std::string& text, const std::string& name, const DatasetOptions& options);

}  // namespace cartpk::io
