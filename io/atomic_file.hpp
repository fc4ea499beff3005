#pragma once
// Outputs are written to a temporary file beside the target and renamed over it only when complete, so a
// failed, killed or full-disk run never leaves a partial file and never replaces a good one with a broken one.
#include <filesystem>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>

namespace cartpk::io {

// A result file that could not be written (disk full, permission lost, HDF5 failure).
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks, before any computing, that `target` can be written: its folder exists and a file can be created in
// it, it is not a folder or device, and it is none of `others` (inputs, or the other outputs of the run),
// however spelled. `option` names the command-line option in the message. Throws InputError.
void check_output_path(const std::filesystem::path& target, const std::string& option,
                       std::span<const std::filesystem::path> others = {});


class AtomicOutput {
 public:
  explicit AtomicOutput(std::filesystem::path target);
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();  // removes the temporary file unless committed

  [[nodiscard]] const std::filesystem::path& temporary_path() const { return temporary_; }
  [[nodiscard]] const std::filesystem::path& target() const { return target_; }
  void commit();  // flush to disk and rename over the target; throws OutputError

 private:
  friend void commit_together(std::initializer_list<AtomicOutput*> outputs);
  void flush() const;
  void rename_into_place();

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  bool committed_ = false;
};

// Commits the outputs of one run together: all are flushed first, then renamed back to back (nulls skipped).
void commit_together(std::initializer_list<AtomicOutput*> outputs);

}  // namespace cartpk::io
