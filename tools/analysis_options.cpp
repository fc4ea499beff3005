#include "tools/analysis_options.hpp"

#include <algorithm>
#include <filesystem>

#include "io/analysis_file.hpp"
#include "io/atomic_file.hpp"
#include "io/did_you_mean.hpp"

namespace cartpk::cli {

namespace {
const std::vector<std::string> kCommands{"fit", "popfit", "simulate", "vpop", "trial"};  // commands with a [table]

std::string option_name(std::string key) {  // atol_scale -> --atol-scale
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

std::string key_name(std::string option) {  // atol-scale -> atol_scale, as a TOML key is usually spelt
  std::replace(option.begin(), option.end(), '-', '_');
  return option;
}

std::string expectation(const CLI::Option& option) {  // CLI11's type names in words
  const std::string type = option.get_type_name();
  if (type == "INT") return "an integer";
  if (type == "UINT") return "a whole number >= 0";
  if (type == "FLOAT") return "a number";
  if (type == "TEXT") return "a string";
  return type.empty() ? "a value this option accepts" : type;
}
}  // namespace

AnalysisOptions::AnalysisOptions(CLI::App& command, Roles roles) : command_(command), roles_(std::move(roles)) {
  command.add_option("--config", config_,
                     "Analysis file (TOML, a [" + command.get_name() + "] table of these options; docs/analysis-file.md); "
                     "the command line wins");
}

void AnalysisOptions::apply() {
  if (!config_.empty()) {
    const auto file = io::read_analysis_file(config_, command_.get_name(), kCommands);
    std::vector<std::string> known;
    for (const auto* o : command_.get_options())
      if (!o->get_lnames().empty() && o->get_lnames().front() != "config" && o->get_lnames().front() != "help")
        known.push_back(key_name(o->get_lnames().front()));
    for (const auto& entry : file.entries) {
      const std::string name = option_name(entry.key);
      const std::string where = file.name + ":" + std::to_string(entry.line) + ": key " + entry.key;
      CLI::Option* option = name == "--config" || name == "--help" ? nullptr : command_.get_option_no_throw(name);
      if (!option) {
        std::string all;
        for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
        throw InputError(file.name + ":" + std::to_string(entry.line) + ": unknown key '" + entry.key + "'" +
                         io::did_you_mean_hint(entry.key, known) + " (expected options of cartpk " +
                         command_.get_name() + ": " + all + ")");
      }
      if (option->count() > 0) continue;  // given on the command line
      auto values = entry.values;
      const bool many = option->get_items_expected_max() > 1;
      if (!many && values.size() != 1) {
        if (!entry.is_list || values.empty())
          throw InputError(where + ": expected one value, found " + std::to_string(values.size()));
        std::string joined;  // a comma-separated option: estimate = ["tmax", "cmax"], dvid = { 1 = "qpcr" }
        for (const auto& v : values) joined += (joined.empty() ? "" : ",") + v;
        values = {joined};
      }
      const auto is = [&name](const std::vector<std::string>& list) {
        return std::find(list.begin(), list.end(), name) != list.end();
      };
      if (is(roles_.inputs) || is(roles_.outputs))
        for (auto& v : values)
          if (!v.empty() && std::filesystem::path(v).is_relative() && v != "published")
            v = (file.folder / v).lexically_normal().string();
      try {
        option->add_result(values);
        option->run_callback();
      } catch (const CLI::Error&) {
        throw InputError(where + ": found '" + values.front() + "', expected " + expectation(*option));
      }
      origin_[name] = where;
    }
  }
  for (const auto& name : roles_.required)
    if (command_.get_option(name)->count() == 0)
      throw InputError(name + " is required (expected it on the command line, or as " + key_name(name.substr(2)) +
                       " in " + (config_.empty() ? "an analysis file given by --config" : config_) + ")");
  if (config_.empty()) return;
  const std::filesystem::path config[] = {config_};
  for (const auto& name : roles_.outputs)  // an output may not overwrite the analysis file, however spelt
    if (const auto* option = command_.get_option(name); option->count() > 0)
      io::check_output_path(option->as<std::string>(), name, config);
}

std::string AnalysisOptions::locate(const std::string& message) const {
  for (const auto& [name, where] : origin_)
    if (message.rfind(name, 0) == 0) {
      const char next = message.size() > name.size() ? message[name.size()] : ' ';
      if (next == ' ' || next == ':' || next == '/') return where + " (" + name + "): " + message;
    }
  return message;
}

}  // namespace cartpk::cli
