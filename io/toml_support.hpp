#pragma once
// What the TOML readers (prior and analysis files) share: parsing with errors that name file and line, and
// locations of nodes for messages.
#include <toml++/toml.h>

#include <string>

#include "pkmodel/errors.hpp"

namespace cartpk::io {

// "file:line" of a node.
inline std::string toml_where(const std::string& name, const toml::source_region& source) {
  return name + ":" + std::to_string(source.begin.line);
}

// The parsed document; a syntax error is an InputError naming file, line and column and what the file should be.
inline toml::table parse_toml(const std::string& text, const std::string& name, const std::string& expected) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw InputError(name + ":" + std::to_string(e.source().begin.line) + ":" + std::to_string(e.source().begin.column) +
                     ": " + std::string(e.description()) + " (expected " + expected + ")");
  }
}

}  // namespace cartpk::io
