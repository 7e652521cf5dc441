// FileDescriptor: owns one open descriptor (a socket, the shard's epoll set) and closes it when
// it goes, so no path (an early return, a refused registration, an exception at start-up) can
// leak one or close one twice. Move-only; never duplicates, never closes what it released.
#pragma once

#include <unistd.h>

#include <utility>

namespace parley::net {

class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  // The descriptor, still owned by this object (-1 when none).
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives the descriptor up without closing it: the caller (or Asio) owns it now.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held (if any) and takes `fd` instead. Closing a socket also takes it
  // out of every epoll set it was in.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace parley::net
