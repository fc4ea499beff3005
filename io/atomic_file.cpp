#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace fs = std::filesystem;

namespace {
fs::path folder_of(const fs::path& target) {
  const fs::path parent = target.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

void sync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS)  // some file systems cannot sync folders; that is harmless
    throw OutputError("could not flush " + path.string() + " to disk: " + std::strerror(err));
}
}  // namespace

void check_output_path(const fs::path& target, const std::string& option, std::span<const fs::path> others) {
  const std::string where = option + " " + target.string() + ": ";
  if (target.empty() || target.filename().empty())
    throw InputError(where + "expected a file path, got an empty name");
  std::error_code ec;
  const auto status = fs::status(target, ec);
  if (fs::exists(status) && !fs::is_regular_file(status))
    throw InputError(where + "exists and is not a regular file (expected a new or existing file)");
  const fs::path folder = folder_of(target);
  if (!fs::is_directory(folder, ec))
    throw InputError(where + "folder " + folder.string() + " does not exist (expected an existing folder)");
  // Probe: create (and remove) a file where the output will go; access(2) says yes to root even on /proc.
  std::string probe = (folder / ".cartpk-write-probe-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    throw InputError(where + "cannot create files in folder " + folder.string() + " (" + std::strerror(errno) +
                     "; expected a writable folder)");
  ::close(fd);
  ::unlink(probe.c_str());
  // However spelled (./x, /abs/x, x): compare absolute, normalised paths, and inodes where both exist.
  const fs::path canonical = fs::weakly_canonical(fs::absolute(target), ec);
  for (const auto& other : others) {
    const bool same = (fs::exists(other, ec) && fs::exists(target, ec) && fs::equivalent(other, target, ec)) ||
                      fs::weakly_canonical(fs::absolute(other), ec) == canonical;
    if (same) throw InputError(where + "is the same file as " + other.string() + " (expected a different path)");
  }
}

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
  std::string pattern = (folder_of(target_) / ("." + target_.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0)
    throw OutputError("could not create a temporary file beside " + target_.string() + ": " + std::strerror(errno));
  const mode_t mask = ::umask(0);  // give the result the permissions a plain new file would have
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  ::close(fd);
  temporary_ = pattern;
}

AtomicOutput::~AtomicOutput() {
  if (committed_) return;
  std::error_code ec;
  fs::remove(temporary_, ec);
}

void AtomicOutput::flush() const { sync_path(temporary_, O_RDONLY); }

void AtomicOutput::rename_into_place() {
  std::error_code ec;
  fs::rename(temporary_, target_, ec);
  if (ec) throw OutputError("could not move the finished file into place at " + target_.string() + ": " + ec.message());
  committed_ = true;
}

void AtomicOutput::commit() { commit_together({this}); }

void commit_together(std::initializer_list<AtomicOutput*> outputs) {
  // Everything slow (flushing to disk) happens before the first rename, so the renames follow each other
  // within microseconds: a kill between them is the only way to see one new output beside an old one.
  for (const auto* out : outputs)
    if (out) out->flush();
  for (auto* out : outputs)
    if (out) out->rename_into_place();
  for (const auto* out : outputs)
    if (out) sync_path(folder_of(out->target()), O_RDONLY | O_DIRECTORY);
}

}  // namespace cartpk::io
