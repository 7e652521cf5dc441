// The auth thread among the server's other threads, as the server runs them: shard threads
// submit registers and logins and ask the AccountDirectory about names while the auth thread adds
// to it, verify the tokens it issued, and send chat messages through the StoreWriter whose SQLite
// file (and inbox) the AuthService's own connection shares. What ThreadSanitizer (make
// test-tsan) watches here is every hand-over between them; the outcomes are checked too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/AccountDirectory.h"
#include "auth/AuthService.h"
#include "auth/PasswordHasher.h"
#include "auth/TokenService.h"
#include "store/StoreWriter.h"

namespace parley::auth {
namespace {

// "prefix" + number without operator+ on a temporary: g++ 12 warns falsely (-Wrestrict,
// GCC bug 105329) on that pattern at -O2.
std::string numbered(std::string prefix, std::uint64_t n) {
  prefix.append(std::to_string(n));
  return prefix;
}

std::int64_t nowSeconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}
std::int64_t nowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Waits for the answer the service gives on its thread.
std::future<AuthResult> ask(AuthService& service, bool registering, const std::string& name,
                            const std::string& password) {
  auto promise = std::make_shared<std::promise<AuthResult>>();
  auto answer = promise->get_future();
  auto done = [promise](AuthResult r) { promise->set_value(std::move(r)); };
  const bool queued = registering ? service.registerAccount(name, password, done)
                                  : service.login(name, password, "127.0.0.1", done);
  if (!queued) {
    AuthResult busy;
    busy.error = "queue full";
    promise->set_value(busy);
  }
  return answer;
}

TEST(AuthThreads, ShardsRegisterLogInAndReadNamesWhileTheWriterSharesTheFile) {
  const auto dir = std::filesystem::temp_directory_path() /
                   numbered("parley-auththreads-", static_cast<std::uint64_t>(::getpid()));
  std::filesystem::remove_all(dir);
  {
    const std::string url = "sqlite:" + (dir / "auth.db").string();
    // Before the writer: its callbacks use them until it has stopped.
    std::mutex mu;
    std::condition_variable cv;
    int committed = 0;
    std::vector<std::string> problems;
    store::StoreWriter writer(store::openStore(url), store::Retention{});
    const PasswordHasher hasher;
    const TokenService tokens(std::string(32, 'k'), 3600);
    AccountDirectory names;
    AuthService service(store::openStore(url), names, hasher, tokens, &nowMillis, 32);

    constexpr int kShards = 3;
    auto problem = [&](std::string what) {
      std::lock_guard lock(mu);
      problems.push_back(std::move(what));
    };
    std::vector<AuthOutcome> contested(kShards);
    std::vector<std::thread> shards;
    for (int s = 0; s < kShards; ++s)
      shards.emplace_back([&, s] {
        const std::string own = numbered("Shard", static_cast<std::uint64_t>(s));
        // The name every shard wants at once: exactly one gets it.
        auto mine = ask(service, true, own, "password " + own);
        auto shared = ask(service, true, "Everyone", "password " + own);
        // Chat traffic through the writer meanwhile (the auth thread's connection shares the
        // file and its inbox with the writer's).
        for (int k = 0; k < 20; ++k) {
          store::StoredMessage m;
          m.room = numbered("room", static_cast<std::uint64_t>(s));
          m.username = own;
          m.content = numbered("m", static_cast<std::uint64_t>(k));
          m.unixMillis = nowSeconds() * 1000;
          writer.submit({std::move(m)},
                        [&](const store::StoreStatus& st, std::vector<store::StoredMessage>&&) {
                          std::lock_guard lock(mu);
                          if (!st.ok) problems.push_back("commit: " + st.error);
                          ++committed;
                          cv.notify_all();
                        });
          // The upgrade's question, asked while the auth thread adds names.
          names.hasName("everyone");
          names.hasName(own);
        }
        const AuthResult reg = mine.get();
        if (reg.outcome != AuthOutcome::Ok) problem(own + " register: " + reg.error);
        if (!names.hasName(own)) problem(own + " registered but not reserved");
        if (tokens.verify(reg.token, nowSeconds()).username != own) problem(own + " token");
        contested[static_cast<std::size_t>(s)] = shared.get().outcome;
        const AuthResult login = ask(service, false, own, "password " + own).get();
        if (login.outcome != AuthOutcome::Ok || login.username != own)
          problem(own + " login: " + login.error);
        if (tokens.verify(login.token, nowSeconds()).status != TokenStatus::Valid)
          problem(own + " login token");
      });
    for (auto& t : shards) t.join();
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return committed == kShards * 20; });
      EXPECT_EQ(committed, kShards * 20);
    }
    EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
    int winners = 0;
    for (AuthOutcome o : contested) {
      EXPECT_TRUE(o == AuthOutcome::Ok || o == AuthOutcome::UsernameTaken) << static_cast<int>(o);
      winners += o == AuthOutcome::Ok;
    }
    EXPECT_EQ(winners, 1);
    EXPECT_EQ(names.size(), static_cast<std::size_t>(kShards + 1));
    EXPECT_EQ(writer.committed(), static_cast<std::uint64_t>(kShards * 20));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::auth
