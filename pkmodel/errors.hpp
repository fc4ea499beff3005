#pragma once
// Typed errors. Two kinds of failure (see docs/solver.md): bad input or misuse is reported and stops the run;
// an integration failure (SolverError) means "these parameters do not solve here" and carries where it happened.
#include <stdexcept>
#include <string>

namespace cartpk {

// Bad user input: the message names the file/option, line and field, the value found and what was expected.
// The command-line program turns it into exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model used in a way it does not support (a programming or set-up error).
class ModelError : public std::logic_error {
 public:
  ModelError(const std::string& model, const std::string& what) : std::logic_error(model + ": " + what) {}
};

// A SUNDIALS call that failed, with its flag, the function called, the time reached and the model.
class SolverError : public std::runtime_error {
 public:
  SolverError(std::string function, int flag, std::string flag_name, std::string detail, double time_day,
              std::string model);
  [[nodiscard]] const std::string& function() const { return function_; }
  [[nodiscard]] int flag() const { return flag_; }
  [[nodiscard]] const std::string& flag_name() const { return flag_name_; }
  [[nodiscard]] double time_day() const { return time_day_; }
  [[nodiscard]] const std::string& model() const { return model_; }

 private:
  std::string function_;
  int flag_;
  std::string flag_name_;
  double time_day_;
  std::string model_;
};

// A number for a message: up to 10 significant digits, shortest form (1e-07, 0.25, 3900).
std::string number_text(double value);

}  // namespace cartpk
