#include "net/DescriptorReserve.h"

#include <fcntl.h>

#include <cerrno>
#include <mutex>

namespace parley::net {

namespace {
int openSpare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }
}  // namespace

DescriptorReserve::DescriptorReserve() : spare_(openSpare()) {}

DescriptorReserve& DescriptorReserve::process() {
  static DescriptorReserve reserve;
  return reserve;
}

FileDescriptor DescriptorReserve::accept(int listener, sockaddr* peer, socklen_t* peerLength) {
  // Shared: listeners accept side by side (an uncontended shared lock is one atomic operation
  // against a ~5 us accept4), and only a refusal at the limit waits for them.
  int fd = -1;
  int error = 0;
  {
    std::shared_lock hold(lock_);
    fd = ::accept4(listener, peer, peerLength, SOCK_NONBLOCK | SOCK_CLOEXEC);
    error = errno;
  }
  errno = error;  // the caller reads why accept4 failed
  return FileDescriptor(fd);
}

bool DescriptorReserve::refuseOne(int listener, const std::function<void(FileDescriptor)>& refuse) {
  std::unique_lock hold(lock_);
  if (!spare_) spare_.reset(openSpare());  // lost to another thread's open last time
  if (!spare_) return false;
  spare_.reset();
  FileDescriptor fd(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  const bool accepted = static_cast<bool>(fd);
  if (accepted) refuse(std::move(fd));
  spare_.reset(openSpare());
  return accepted;
}

}  // namespace parley::net
