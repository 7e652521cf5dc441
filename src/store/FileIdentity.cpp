#include "store/FileIdentity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace parley::store {

FileIdentity FileIdentity::ofPath(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot stat " + path + ": " + std::strerror(errno));
  FileIdentity id;
  id.path_ = path;
  id.dev_ = st.st_dev;
  id.ino_ = st.st_ino;
  return id;
}

FileIdentity FileIdentity::ofPathIfAny(const std::string& path) {
  try {
    return ofPath(path);
  } catch (const std::runtime_error&) {
    return {};
  }
}

FileIdentity FileIdentity::ofOpenFile(const std::string& path, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw std::runtime_error("cannot stat " + path + ": " + std::strerror(errno));
  FileIdentity id;
  id.path_ = path;
  id.dev_ = st.st_dev;
  id.ino_ = st.st_ino;
  return id;
}

std::string FileIdentity::check() const {
  if (path_.empty()) return {};
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    // ENOENT: the file or a directory above it is gone; ENOTDIR: a directory above it is a file
    // now. The inode stays allocated while the store holds it open, so its number cannot be
    // reused by a new file: a matching (device, inode) is always the same file.
    if (errno == ENOENT || errno == ENOTDIR) return path_ + " was deleted";
    return {};
  }
  if (st.st_dev != dev_ || st.st_ino != ino_) return path_ + " is another file now";
  return {};
}

std::string FileIdentity::checkOpen(int fd) const {
  struct stat st {};
  if (path_.empty() || ::fstat(fd, &st) != 0 || st.st_nlink > 0) return {};
  return path_ + " was deleted";
}

bool syncDirectoryOf(const std::string& path, std::string& error) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    error = "cannot sync the directory " + dir + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  ::close(fd);
  return true;
}

}  // namespace parley::store
