// sendbench: CPU per small loopback write, one sendmsg per write against io_uring submissions of
// many, the question behind net/SendRing. Opens N loopback TCP connections; a child process on
// another CPU drains them (epoll, like a chat client); the parent, pinned, writes one frame-sized
// message to each connection per round, `--rounds` rounds spaced `--pace-us` apart, and reports
// its own CPU time (user + system) per write. The two ways alternate `--repeat` times, since the
// machine's noise moves absolute figures: compare within a run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int sockets = 1000;
  int rounds = 300;
  int paceUs = 10000;  // 100 rounds a second: 100,000 writes/s with 1,000 sockets
  int size = 150;      // a 140-character chat message and its frame header
  int batch = 64;      // io_uring entries per submission
  int repeat = 3;
  int writerCpu = 0;
  int readerCpu = 1;
};

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

double cpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// Reads everything from `fds` until `total` bytes have arrived; runs in the child.
[[noreturn]] void drain(const std::vector<int>& fds, long total, int cpu) {
  pin(cpu);
  const int ep = epoll_create1(0);
  for (int fd : fds) {
    fcntl(fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::vector<char> buf(1 << 16);
  epoll_event events[256];
  long got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (got < total && std::chrono::steady_clock::now() < deadline) {
    const int n = epoll_wait(ep, events, 256, 50);
    for (int i = 0; i < n; ++i)
      for (;;) {
        const ssize_t r = recv(events[i].data.fd, buf.data(), buf.size(), 0);
        if (r <= 0) break;
        got += r;
      }
  }
  _exit(got == total ? 0 : 1);
}

// One measured pass: `batch` 0 writes with sendmsg, otherwise through `ring`.
double pass(const Options& o, const std::vector<int>& fds, io_uring* ring, int batch,
            long& failed) {
  const std::string payload(static_cast<std::size_t>(o.size), 'x');
  std::vector<iovec> iov(fds.size());
  std::vector<msghdr> msgs(fds.size());
  for (std::size_t i = 0; i < fds.size(); ++i) {
    iov[i] = {const_cast<char*>(payload.data()), payload.size()};
    msgs[i] = {};
    msgs[i].msg_iov = &iov[i];
    msgs[i].msg_iovlen = 1;
  }
  const double cpu0 = cpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < o.rounds; ++r) {
    std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<long>(o.paceUs) * r));
    if (batch == 0) {
      for (std::size_t i = 0; i < fds.size(); ++i)
        if (sendmsg(fds[i], &msgs[i], MSG_NOSIGNAL) != o.size) ++failed;
      continue;
    }
    int queued = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      io_uring_prep_sendmsg(sqe, fds[i], &msgs[i], MSG_NOSIGNAL | MSG_DONTWAIT);
      if (++queued < batch && i + 1 < fds.size()) continue;
      io_uring_submit_and_wait(ring, static_cast<unsigned>(queued));
      unsigned head;
      unsigned seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(ring, head, cqe) {
        if (cqe->res != o.size) ++failed;
        ++seen;
      }
      io_uring_cq_advance(ring, seen);
      queued = 0;
    }
  }
  return (cpuSeconds() - cpu0) * 1e6 / (static_cast<double>(fds.size()) * o.rounds);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"CPU per small loopback write: sendmsg against io_uring submissions"};
  app.add_option("--sockets", o.sockets, "connections written to")->check(CLI::Range(1, 15000));
  app.add_option("--rounds", o.rounds, "writes per connection and pass")
      ->check(CLI::Range(1, 100000));
  app.add_option("--pace-us", o.paceUs, "microseconds between rounds (0: back to back)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--size", o.size, "bytes per write")->check(CLI::Range(1, 65536));
  app.add_option("--batch", o.batch, "io_uring entries per submission")->check(CLI::Range(1, 4096));
  app.add_option("--repeat", o.repeat, "alternating pairs of passes")->check(CLI::Range(1, 100));
  app.add_option("--writer-cpu", o.writerCpu, "CPU of the writer");
  app.add_option("--reader-cpu", o.readerCpu, "CPU of the reader");
  CLI11_PARSE(app, argc, argv);

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die("listen");
  std::vector<int> clients, servers;
  const int one = 1;
  for (int i = 0; i < o.sockets; ++i) {
    clients.push_back(socket(AF_INET, SOCK_STREAM, 0));
    if (connect(clients.back(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      die("connect");
    servers.push_back(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK));
    if (servers.back() < 0) die("accept");
    setsockopt(servers.back(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  const long total = 2L * o.repeat * o.rounds * o.sockets * o.size;
  const pid_t reader = fork();
  if (reader == 0) drain(clients, total, o.readerCpu);
  pin(o.writerCpu);

  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (const int err = io_uring_queue_init_params(static_cast<unsigned>(o.batch), &ring, &params))
    die(("io_uring: " + std::string(std::strerror(-err))).c_str());

  std::printf("%d sockets, %d rounds of one %d-byte write each, %d us apart\n", o.sockets, o.rounds,
              o.size, o.paceUs);
  long failed = 0;
  double sumPlain = 0, sumRing = 0;
  for (int k = 0; k < o.repeat; ++k) {
    const double plain = pass(o, servers, &ring, 0, failed);
    const double batched = pass(o, servers, &ring, o.batch, failed);
    sumPlain += plain;
    sumRing += batched;
    std::printf("  sendmsg %.2f us/write   io_uring x%d %.2f us/write   ratio %.2f\n", plain,
                o.batch, batched, batched / plain);
  }
  std::printf("mean: sendmsg %.2f, io_uring %.2f us of CPU per write (%.2fx)\n",
              sumPlain / o.repeat, sumRing / o.repeat, sumRing / sumPlain);
  int status = 0;
  waitpid(reader, &status, 0);
  if (failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%ld writes short or failed; reader %s\n", failed,
                 WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "did not get every byte");
    return 1;
  }
  io_uring_queue_exit(&ring);
  return 0;
}
