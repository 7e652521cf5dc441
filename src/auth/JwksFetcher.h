// JwksFetcher: keeps an AppTokenVerifier's keys fresh from a JWKS file or http(s) URL, on a
// thread of its own: every refresh interval, and soon after a token names a key the set lacks
// (refetchSoon), never twice within the minimum gap (5 s), so a stream of tokens with made-up
// kids costs the provider one request per gap. A fetch that fails or yields no usable key leaves
// the keys in place.
// Never runs on an event loop and never blocks one: refetchSoon is an atomic flag and, the first
// time, a notify. The HTTP request itself is net/'s (HttpGet, passed in): auth/ does no I/O on
// sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace parley::auth {

class AppTokenVerifier;

class JwksFetcher {
 public:
  // GETs `url` into `body`; false with `error` set when it could not (status other than 200,
  // timeout, too large...). Runs on the fetcher's thread.
  using HttpGet =
      std::function<bool(const std::string& url, std::string& body, std::string& error)>;
  using Log = std::function<void(const std::string& line)>;

  struct Options {
    std::string source;  // a file path, or an http:// or https:// URL
    std::chrono::milliseconds refreshInterval{600'000};
    std::chrono::milliseconds minGap{5'000};  // between two fetches, whatever asked for them
    // After a failed fetch, the next try comes this much later (or sooner if asked, minGap
    // apart): an identity provider that is down is asked again, not hammered.
    std::chrono::milliseconds retryAfterFailure{30'000};
  };

  static bool isUrl(const std::string& source);

  JwksFetcher(Options options, AppTokenVerifier& verifier, HttpGet get, Log log);
  ~JwksFetcher();  // stops and joins the thread
  JwksFetcher(const JwksFetcher&) = delete;
  JwksFetcher& operator=(const JwksFetcher&) = delete;

  // One fetch now, on the caller's thread (start-up, before start()): false with `error` when
  // the keys could not be had; the verifier keeps what it had.
  bool fetchNow(std::string& error);
  // The thread: fetches on schedule and when asked.
  void start();
  // From any thread, without blocking: fetch again as soon as the minimum gap allows.
  void refetchSoon();

  std::uint64_t fetches() const { return fetches_.load(); }  // attempts completed
  std::uint64_t failures() const { return failures_.load(); }

 private:
  void run();

  Options options_;
  AppTokenVerifier& verifier_;
  HttpGet get_;
  Log log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // under mutex_
  std::atomic<bool> wanted_{false};
  std::chrono::steady_clock::time_point lastAttempt_{};
  bool lastFailed_ = false;
  std::atomic<std::uint64_t> fetches_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::thread thread_;
};

}  // namespace parley::auth
