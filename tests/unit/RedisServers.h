// Real redis-server processes for the cluster tests: on loopback, on free ports, in temp dirs,
// always killed at the end. RedisServer is one (standalone, or one node of a cluster);
// RedisClusterServers starts six and joins them as three masters with a replica each
// (redis-cli --cluster create), ready when every node says cluster_state:ok and every replica
// has synced.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace parley::cluster::testing {

inline std::uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// A shell command's standard output (redis-cli, for what the tests check behind the link's back).
inline std::string run(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  return out;
}

inline std::string cli(std::uint16_t port, const std::string& args) {
  return run("redis-cli -h 127.0.0.1 -p " + std::to_string(port) + " " + args + " 2>&1");
}

// Answers PING with +PONG (a blocking socket of its own, not the code under test).
inline bool pings(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char ping[] = "*1\r\n$4\r\nPING\r\n";
    char reply[16] = {};
    ok = ::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == sizeof ping - 1 &&
         ::recv(fd, reply, sizeof reply, 0) >= 5 && std::string(reply, 5) == "+PONG";
  }
  ::close(fd);
  return ok;
}

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}, std::uint16_t port = 0)
      : port_(port ? port : freePort()), extra_(std::move(extra)) {
    char pattern[] = "/tmp/parley-redis-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    start();
  }
  ~RedisServer() {
    kill9();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args = {
        "redis-server", "--bind",    "127.0.0.1",        "--port", std::to_string(port_),
        "--save",       "",          "--appendonly",     "no",     "--dir",
        dir_,           "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start redis-server (is it installed? make deps-test)");
    for (int i = 0; i < 250; ++i) {  // up to 5 s; ~0.1 s here
      if (pings(port_)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not start");
  }

  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  std::uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

 private:
  std::uint16_t port_;
  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = -1;
};

class RedisClusterServers {
 public:
  RedisClusterServers() {
    for (int i = 0; i < 6; ++i) {
      const std::uint16_t port = freePort();
      const std::uint16_t bus = freePort();
      nodes_.push_back(std::make_unique<RedisServer>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                   "nodes.conf", "--cluster-node-timeout", "1000", "--cluster-port",
                                   std::to_string(bus)},
          port));
    }
    std::string create = "redis-cli --cluster create";
    for (auto& n : nodes_) create += " 127.0.0.1:" + std::to_string(n->port());
    create += " --cluster-replicas 1 --cluster-yes 2>&1";
    const std::string out = run(create);
    if (out.find("[OK] All 16384 slots covered") == std::string::npos)
      throw std::runtime_error("redis-cli --cluster create failed: " + out);
    waitReady();
  }

  // Every node agrees the cluster is ok and every replica has its master's data.
  void waitReady() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      bool ready = true;
      for (auto& n : nodes_) {
        if (!n->running()) continue;
        if (cli(n->port(), "cluster info").find("cluster_state:ok") == std::string::npos) {
          ready = false;
          break;
        }
        const std::string info = cli(n->port(), "info replication");
        if (info.find("role:slave") != std::string::npos &&
            info.find("master_link_status:up") == std::string::npos) {
          ready = false;
          break;
        }
      }
      if (ready) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("the Redis Cluster did not become ready in 20 s");
  }

  RedisServer& node(std::size_t i) { return *nodes_[i]; }
  std::size_t size() const { return nodes_.size(); }

  // The node (index) that is master for `slot` now, by asking node `via`.
  std::size_t masterOf(std::uint16_t slot, std::size_t via = 0) {
    const std::string nodes = cli(nodes_[via]->port(), "cluster nodes");
    // Lines: id host:port@bus flags master ping pong epoch state slots...
    std::size_t start = 0;
    while (start < nodes.size()) {
      const std::size_t end = nodes.find('\n', start);
      const std::string line = nodes.substr(start, end - start);
      start = end == std::string::npos ? nodes.size() : end + 1;
      if (line.find("master") == std::string::npos || line.find(",fail") != std::string::npos)
        continue;
      std::vector<std::string> f;
      std::size_t p = 0;
      while (p < line.size()) {
        const std::size_t q = line.find(' ', p);
        f.push_back(line.substr(p, q - p));
        p = q == std::string::npos ? line.size() : q + 1;
      }
      for (std::size_t k = 8; k < f.size(); ++k) {
        const auto dash = f[k].find('-');
        if (f[k].starts_with('[')) continue;
        const unsigned lo = std::stoul(f[k].substr(0, dash));
        const unsigned hi = dash == std::string::npos ? lo : std::stoul(f[k].substr(dash + 1));
        if (slot >= lo && slot <= hi) {
          const std::uint16_t port =
              static_cast<std::uint16_t>(std::stoul(f[1].substr(f[1].find(':') + 1)));
          for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (nodes_[i]->port() == port) return i;
        }
      }
    }
    throw std::runtime_error("no master for slot " + std::to_string(slot));
  }

  std::string id(std::size_t i) {
    std::string out = cli(nodes_[i]->port(), "cluster myid");
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace parley::cluster::testing

#include <future>

#include "cluster/RedisLink.h"

namespace parley::cluster::testing {

// A command through the link, waited for (the link's own timeouts end it; this one only keeps
// a broken test from hanging).
inline RedisReply call(RedisLink& link, std::string_view key, std::vector<std::string> args) {
  auto promise = std::make_shared<std::promise<RedisReply>>();
  auto future = promise->get_future();
  link.command(key, std::move(args), [promise](RedisReply r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(15)) != std::future_status::ready)
    throw std::runtime_error("no answer from the link in 15 s");
  return future.get();
}

// Polls `condition` every 10 ms until it holds or `ms` pass.
template <typename F>
bool eventually(F condition, int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace parley::cluster::testing
