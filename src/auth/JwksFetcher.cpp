#include "auth/JwksFetcher.h"

#include <pthread.h>

#include <fstream>
#include <iterator>

#include "auth/AppTokenVerifier.h"
#include "auth/JwkSet.h"

namespace parley::auth {

namespace {

// A key set is a few kilobytes; anything near this is not one.
constexpr std::size_t kMaxDocumentBytes = 1 << 20;

bool readFile(const std::string& path, std::string& body, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    error = "cannot read " + path;
    return false;
  }
  if (body.size() > kMaxDocumentBytes) {
    error = path + " is larger than 1 MiB";
    return false;
  }
  return true;
}

}  // namespace

bool JwksFetcher::isUrl(const std::string& source) {
  return source.starts_with("http://") || source.starts_with("https://");
}

JwksFetcher::JwksFetcher(Options options, AppTokenVerifier& verifier, HttpGet get, Log log)
    : options_(std::move(options)),
      verifier_(verifier),
      get_(std::move(get)),
      log_(std::move(log)) {}

JwksFetcher::~JwksFetcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool JwksFetcher::fetchNow(std::string& error) {
  std::string body;
  bool ok = isUrl(options_.source) ? (get_ && get_(options_.source, body, error))
                                   : readFile(options_.source, body, error);
  if (ok) {
    std::size_t skipped = 0;
    if (auto keys = JwkSet::parse(body, error, skipped)) {
      std::string kids;
      for (const auto& k : keys->keys()) {
        if (!kids.empty()) kids += ", ";
        kids +=
            (k.alg == JwsAlg::RS256 ? "RS256 " : "ES256 ") + (k.kid.empty() ? "(no kid)" : k.kid);
      }
      verifier_.setKeys(std::move(keys));
      if (log_)
        log_("jwks: " + std::to_string(verifier_.keys()->keys().size()) + " key(s) from " +
             options_.source + ": " + kids +
             (skipped ? " (" + std::to_string(skipped) + " skipped: not RS256/ES256 signing keys)"
                      : ""));
    } else {
      ok = false;
    }
  }
  fetches_.fetch_add(1);
  if (!ok) {
    failures_.fetch_add(1);
    if (log_) log_("jwks: " + options_.source + ": " + error + " (keeping the keys held)");
  }
  return ok;
}

void JwksFetcher::start() {
  lastAttempt_ = std::chrono::steady_clock::now();  // fetchNow() ran at start-up
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jwks");
    run();
  });
}

void JwksFetcher::refetchSoon() {
  // Only the first ask between two fetches takes the lock: a flood of unknown kids is one
  // atomic exchange each.
  if (wanted_.exchange(true)) return;
  std::lock_guard lock(mutex_);
  wake_.notify_one();
}

void JwksFetcher::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto interval = lastFailed_
                              ? std::min(options_.retryAfterFailure, options_.refreshInterval)
                              : options_.refreshInterval;
    const auto due = lastAttempt_ + (wanted_.load() ? options_.minGap : interval);
    if (std::chrono::steady_clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    wanted_.store(false);
    lastAttempt_ = std::chrono::steady_clock::now();
    lock.unlock();
    std::string error;
    const bool ok = fetchNow(error);
    lock.lock();
    lastFailed_ = !ok;
  }
}

}  // namespace parley::auth
