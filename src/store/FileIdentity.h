// FileIdentity: which file a path named when the store opened it (device and inode), so that a
// running server notices the file, or its directory, being deleted or replaced under it and stops
// writing into a file nobody will ever open again. Never opens the file (closing a descriptor of
// an SQLite database would drop the process's locks on it): a stat of the path is all it costs.
#pragma once

#include <sys/types.h>

#include <string>

namespace parley::store {

class FileIdentity {
 public:
  FileIdentity() = default;  // names nothing: check() always passes (sqlite::memory:)

  // The file `path` names now (stat), or the open file `fd` (fstat), known by `path`. Throws
  // std::runtime_error when it cannot be read (start-up only).
  static FileIdentity ofPath(const std::string& path);
  static FileIdentity ofOpenFile(const std::string& path, int fd);
  // As ofPath, or nothing (an identity that names no file) when `path` cannot be read.
  static FileIdentity ofPathIfAny(const std::string& path);

  // "" while the path still names the same file; otherwise what happened, as a sentence:
  // "PATH was deleted" or "PATH is another file now". Any other failure of stat (EIO, EACCES) is
  // not taken as a loss: the write itself will say what is wrong.
  std::string check() const;

  // The cheaper check for a file kept open as `fd` (an fstat, no path lookup): "PATH was deleted"
  // once its last name is gone (deleted, or another file renamed over it), else "". A rename of
  // the file itself to elsewhere goes unnoticed here: check() sees it.
  std::string checkOpen(int fd) const;
  // True when this names a file and its path still names that file.
  bool stillNamed() const { return !path_.empty() && check().empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// Makes the directory entries in `path`'s directory durable (fsync of the directory): a file just
// created or renamed there survives an OS crash with its name. False, with `error`, on failure.
bool syncDirectoryOf(const std::string& path, std::string& error);

}  // namespace parley::store
