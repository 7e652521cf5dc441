// SendRing against real loopback TCP sockets: what each batched sendmsg reports is what a plain
// sendmsg would have (bytes, a short write, EAGAIN, a dead peer), and the bytes arrive in order.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/SendRing.h"

namespace parley::net {
namespace {

// A connected pair: `server` (non-blocking, the side the ring writes) and `client` (blocking).
struct Connection {
  int server = -1;
  int client = -1;
  ~Connection() {
    if (server >= 0) ::close(server);
    if (client >= 0) ::close(client);
  }
};

class SendRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ring_ = SendRing::open(why);
    if (!ring_) GTEST_SKIP() << "no io_uring on this kernel: " << why;
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener_, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener_, 64), 0);
    socklen_t len = sizeof addr_;
    ASSERT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr_), &len), 0);
  }
  void TearDown() override {
    if (listener_ >= 0) ::close(listener_);
  }

  std::unique_ptr<Connection> connectPair(int clientRcvBuf = 0) {
    auto c = std::make_unique<Connection>();
    c->client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (clientRcvBuf)
      ::setsockopt(c->client, SOL_SOCKET, SO_RCVBUF, &clientRcvBuf, sizeof clientRcvBuf);
    EXPECT_EQ(::connect(c->client, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_), 0);
    c->server = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT_GE(c->server, 0);
    return c;
  }

  // Queues one send of `parts` on `fd`; `parts` must live until submit() (the kernel reads
  // them then).
  void push(int fd, const std::vector<std::string>& parts) {
    auto iov = ring_->iovecs(parts.size());
    ASSERT_EQ(iov.size(), parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      iov[i].iov_base = const_cast<char*>(parts[i].data());
      iov[i].iov_len = parts[i].size();
    }
    ring_->push(fd, parts.size());
  }

  static std::string readExactly(int fd, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }

  std::unique_ptr<SendRing> ring_;
  int listener_ = -1;
  sockaddr_in addr_{};
};

TEST_F(SendRingTest, EverySendOfASubmissionArrivesWholeAndReportsItsBytes) {
  std::vector<std::unique_ptr<Connection>> conns;
  for (int i = 0; i < 10; ++i) conns.push_back(connectPair());
  // Three rounds through the same ring: its slots and iovecs are reused.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::vector<std::string>> sent;
    for (int i = 0; i < 10; ++i) {
      sent.push_back({"round " + std::to_string(round) + " ", "to " + std::to_string(i),
                      std::string(static_cast<std::size_t>(100 * i), 'x')});
      push(conns[static_cast<std::size_t>(i)]->server, sent.back());
    }
    EXPECT_EQ(ring_->size(), 10u);
    const auto results = ring_->submit();
    ASSERT_EQ(results.size(), 10u);
    EXPECT_EQ(ring_->size(), 0u);
    for (std::size_t i = 0; i < 10; ++i) {
      const std::string whole = sent[i][0] + sent[i][1] + sent[i][2];
      EXPECT_EQ(results[i], static_cast<int>(whole.size())) << "send " << i;
      EXPECT_EQ(readExactly(conns[i]->client, whole.size()), whole);
    }
  }
  EXPECT_FALSE(ring_->broken());
}

TEST_F(SendRingTest, AFullSocketReportsEagain) {
  auto full = connectPair(4096);
  const int smallSndBuf = 16 * 1024;  // fixed: no autotuning to make room later
  ::setsockopt(full->server, SOL_SOCKET, SO_SNDBUF, &smallSndBuf, sizeof smallSndBuf);
  const std::string chunk(64 * 1024, 'f');
  const std::vector<std::string> parts{chunk};
  // Fill the socket with plain writes, then offer more through the ring: a little room may
  // open meanwhile (the receiver's window moves), so fill again until the ring meets it full.
  int eagain = 0;
  for (int attempt = 0; attempt < 50 && eagain == 0; ++attempt) {
    while (::send(full->server, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
    push(full->server, parts);
    const auto results = ring_->submit();
    ASSERT_EQ(results.size(), 1u);
    if (results[0] == -EAGAIN)
      ++eagain;
    else
      ASSERT_GT(results[0], 0) << "neither EAGAIN nor bytes";
  }
  EXPECT_EQ(eagain, 1);
}

TEST_F(SendRingTest, AShortWriteReportsWhatTheSocketTook) {
  auto filling = connectPair(4096);
  auto fine = connectPair();
  const std::vector<std::string> big{
      std::string(8 * 1024 * 1024, 'b')};  // more than a socket takes
  const std::vector<std::string> small{"still served"};
  push(filling->server, big);
  push(fine->server, small);
  const auto results = ring_->submit();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_GT(results[0], 0);
  EXPECT_LT(results[0], static_cast<int>(big[0].size()));
  EXPECT_EQ(results[1], static_cast<int>(small[0].size()));
  EXPECT_EQ(readExactly(fine->client, small[0].size()), small[0]);
  // What the ring reported is exactly what arrives.
  EXPECT_EQ(readExactly(filling->client, static_cast<std::size_t>(results[0])),
            std::string(static_cast<std::size_t>(results[0]), 'b'));
}

TEST_F(SendRingTest, ADeadPeerIsAnErrorNotEagain) {
  auto conn = connectPair();
  // An abortive close (RST): the next write to it fails.
  linger lin{1, 0};
  ::setsockopt(conn->client, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  ::close(std::exchange(conn->client, -1));
  ::usleep(20'000);
  const std::vector<std::string> parts{"anyone there?"};
  push(conn->server, parts);
  const auto results = ring_->submit();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_LT(results[0], 0);
  EXPECT_NE(results[0], -EAGAIN);
  EXPECT_NE(results[0], -EINTR);
}

TEST_F(SendRingTest, TheRingSaysWhenItIsFullAndNeverSplitsASend) {
  auto conn = connectPair();
  // Slots: kSlots sends, then nothing until a submit.
  const std::vector<std::string> one{"s"};
  for (std::size_t i = 0; i < SendRing::kSlots; ++i) push(conn->server, one);
  EXPECT_TRUE(ring_->iovecs(1).empty());
  auto results = ring_->submit();
  ASSERT_EQ(results.size(), SendRing::kSlots);
  for (int r : results) EXPECT_EQ(r, 1);
  EXPECT_EQ(readExactly(conn->client, SendRing::kSlots), std::string(SendRing::kSlots, 's'));

  // Iovecs: a send that would not fit whole in what is left waits for the next submission...
  std::vector<std::string> parts(1000, "p");
  for (int i = 0; i < 4; ++i) push(conn->server, parts);  // 4,000 of kIovecs
  EXPECT_TRUE(ring_->iovecs(1000).empty());
  EXPECT_EQ(ring_->iovecs(96).size(), 96u);  // ...but a smaller one still fits
  // ...and an empty ring grants up to its whole pool.
  results = ring_->submit();
  for (int r : results) EXPECT_EQ(r, 1000);
  EXPECT_EQ(readExactly(conn->client, 4000), std::string(4000, 'p'));
  EXPECT_EQ(ring_->iovecs(1024).size(), 1024u);
  EXPECT_TRUE(ring_->submit().empty());
}

}  // namespace
}  // namespace parley::net
