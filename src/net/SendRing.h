// SendRing: one loop turn's socket writes handed to the kernel together through io_uring, up to
// kSlots sendmsg calls per system call. Never keeps a write past submit(): every send is
// non-blocking (MSG_DONTWAIT), so the kernel finishes it inside the submitting call.
//
// Why: on these virtual machines entering the kernel is a large part of a small loopback write
// (docs/ARCHITECTURE.md, "Cork and write"); one entry for 64 writes took ~35% off their CPU.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

struct io_uring;

namespace parley::net {

class SendRing {
 public:
  static constexpr std::size_t kSlots = 64;
  static constexpr std::size_t kIovecs = 4096;  // shared by the slots of one submission

  // Null (with the reason in `why`) when the kernel offers no io_uring: too old, disabled
  // (kernel.io_uring_disabled) or filtered by a sandbox. Must be called on the thread that
  // submits: the ring is created for a single issuer.
  static std::unique_ptr<SendRing> open(std::string& why);
  ~SendRing();
  SendRing(const SendRing&) = delete;
  SendRing& operator=(const SendRing&) = delete;

  std::size_t size() const { return count_; }
  // Room for the next send's iovecs, at most `max` (an empty ring grants up to kIovecs); empty
  // when the ring is full: submit() first. One send's frames are never split across
  // submissions for lack of room.
  std::span<iovec> iovecs(std::size_t max);
  // Queues a sendmsg on `fd` of the first `used` iovecs from the last iovecs().
  void push(int fd, std::size_t used);
  // Submits the queued sends and returns each one's result in push order: bytes written, or
  // -errno (-EAGAIN: the socket is full). -EINTR: the ring did not take it (write it yourself);
  // then broken() is true and the ring must not be used again.
  std::span<const int> submit();
  bool broken() const { return broken_; }

 private:
  SendRing() = default;

  std::unique_ptr<io_uring> ring_;
  std::array<msghdr, kSlots> msgs_{};
  std::array<int, kSlots> results_{};
  std::array<iovec, kIovecs> iovecs_{};
  std::size_t count_ = 0;
  std::size_t iovUsed_ = 0;
  std::size_t iovGranted_ = 0;
  bool broken_ = false;
};

}  // namespace parley::net
