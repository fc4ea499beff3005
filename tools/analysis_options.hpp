#pragma once
// `--config FILE`: the options of a command that the command line leaves out, taken from an analysis file
// (io/analysis_file.hpp). The command line wins. Values from the file go through the same conversion and
// checks as typed ones; an error about one names the file, line and key.
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "pkmodel/errors.hpp"

namespace cartpk::cli {

class AnalysisOptions {
 public:
  struct Roles {
    std::vector<std::string> required;  // needed from one source or the other (e.g. "--model")
    std::vector<std::string> inputs;    // file paths read, given relative to the analysis file's folder
    std::vector<std::string> outputs;   // file paths written, likewise; never the analysis file itself
  };
  // Adds --config to `command`.
  AnalysisOptions(CLI::App& command, Roles roles);

  // In the command's callback, before its options are used: merges the file, then checks the required ones.
  void apply();

  // Runs `body`; an InputError about an option that came from the file gets the file's location in front.
  template <class Body>
  void run(Body body) const {
    try {
      body();
    } catch (const InputError& e) {
      throw InputError(locate(e.what()));
    }
  }

 private:
  [[nodiscard]] std::string locate(const std::string& message) const;

  CLI::App& command_;
  std::string config_;
  Roles roles_;
  std::map<std::string, std::string> origin_;  // "--fix" -> "run.toml:5: key fix"
};

}  // namespace cartpk::cli
