#include "net/SendRing.h"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace parley::net {

std::unique_ptr<SendRing> SendRing::open(std::string& why) {
  std::unique_ptr<SendRing> ring(new SendRing());
  ring->ring_ = std::make_unique<io_uring>();
  // Single issuer with deferred task work (Linux 6.1+) is the cheapest kind; older kernels
  // refuse the flags, and a plain ring does the same job.
  const unsigned preferred =
      IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int err = 0;
  for (const unsigned flags : {preferred, 0u}) {
    io_uring_params params{};
    params.flags = flags;
    err = io_uring_queue_init_params(kSlots, ring->ring_.get(), &params);
    if (err == 0) return ring;
  }
  why = std::strerror(-err);
  return nullptr;
}

SendRing::~SendRing() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

std::span<iovec> SendRing::iovecs(std::size_t max) {
  if (count_ == kSlots) return {};
  const std::size_t room = kIovecs - iovUsed_;
  if (room < max && count_ > 0) return {};
  iovGranted_ = std::min(max, room);
  return {iovecs_.data() + iovUsed_, iovGranted_};
}

void SendRing::push(int fd, std::size_t used) {
  msghdr& msg = msgs_[count_];
  msg = {};
  msg.msg_iov = iovecs_.data() + iovUsed_;
  msg.msg_iovlen = std::min(used, iovGranted_);
  // The ring has kSlots entries and is emptied by every submit(): there is always one free.
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  // MSG_DONTWAIT: a full socket completes with -EAGAIN at once instead of the kernel waiting
  // for room (the session waits for EPOLLOUT itself), so no send outlives submit().
  io_uring_prep_sendmsg(sqe, fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  io_uring_sqe_set_data64(sqe, count_);
  iovUsed_ += msg.msg_iovlen;
  iovGranted_ = 0;
  ++count_;
}

std::span<const int> SendRing::submit() {
  const std::size_t count = std::exchange(count_, 0);
  iovUsed_ = 0;
  if (count == 0) return {};
  io_uring* ring = ring_.get();
  // The kernel takes the entries in order: those it took are results_[0, taken).
  std::size_t taken = 0;
  while (taken < count) {
    const int n = io_uring_submit_and_get_events(ring);
    if (n == -EINTR) continue;
    if (n <= 0) {
      broken_ = true;
      break;
    }
    taken += static_cast<std::size_t>(n);
  }
  // A send taken but never reported may or may not have written: the caller must treat it as a
  // failed connection (-EIO) rather than write the bytes again.
  std::fill(results_.begin(), results_.begin() + static_cast<std::ptrdiff_t>(taken), -EIO);
  std::fill(results_.begin() + static_cast<std::ptrdiff_t>(taken),
            results_.begin() + static_cast<std::ptrdiff_t>(count), -EINTR);
  std::size_t reported = 0;
  while (reported < taken) {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
      const std::uint64_t slot = io_uring_cqe_get_data64(cqe);
      if (slot < count) results_[slot] = cqe->res;
      ++seen;
    }
    io_uring_cq_advance(ring, seen);
    reported += seen;
    if (reported >= taken) break;
    // Non-blocking sends complete within the submitting call; this wait only guards against
    // a kernel that defers them anyway.
    const int err = io_uring_wait_cqe_nr(ring, &cqe, static_cast<unsigned>(taken - reported));
    if (err < 0 && err != -EINTR) {
      broken_ = true;
      break;
    }
  }
  return {results_.data(), count};
}

}  // namespace parley::net
