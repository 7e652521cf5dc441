// The hub on real threads: one thread per shard (a FIFO task queue each, as an io_context is per
// producer), the real SQLite store's writer, reader and maintainer threads, members joining,
// talking, paging and leaving on every shard at once. HubTest explores interleavings on one
// thread, repeatably; this test is what ThreadSanitizer (make test-tsan) watches: every post
// between shards, every answer of a store thread, every counter read from another thread.
// It checks what the server promises too: each room's observer sees ids 1..N once each, in
// order; every member sees a gapless run that ends at N, with the observer's contents.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "auth/TokenService.h"
#include "chat/Conversation.h"
#include "chat/Hub.h"
#include "chat/HubEnvironment.h"
#include "metrics/Metrics.h"
#include "store/StoreMaintainer.h"
#include "store/StoreReader.h"
#include "store/StoreWriter.h"

namespace parley::chat {
namespace {

// "prefix" + number without operator+ on a temporary: g++ 12 warns falsely (-Wrestrict,
// GCC bug 105329) on that pattern at -O2.
std::string numbered(std::string prefix, std::uint64_t n) {
  prefix.append(std::to_string(n));
  return prefix;
}

std::int64_t steadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
std::int64_t unixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One JSON document per line: a join/leave batch is frames back to back, as on the wire.
Frame encode(std::string_view json, std::uint64_t id) {
  std::string line(json);
  line.push_back('\n');
  return std::make_shared<const WireFrame>(WireFrame{std::move(line), id, {}});
}

// Shards as the server runs them: a thread each, running posted tasks in order, and the hub's
// batch timer (wakeAt) and once-a-second tick (here every 50 ms, to run them often).
class ThreadedShards {
 public:
  explicit ThreadedShards(std::size_t n) : shards_(n) {}
  ~ThreadedShards() { stop(); }
  ThreadedShards(const ThreadedShards&) = delete;
  ThreadedShards& operator=(const ThreadedShards&) = delete;

  void start(Hub& hub) {
    for (std::size_t i = 0; i < shards_.size(); ++i)
      shards_[i].thread = std::thread([this, &hub, i] { run(hub, i); });
  }
  // Any thread.
  void post(std::size_t shard, std::function<void()> task) {
    Queue& q = shards_[shard];
    {
      std::lock_guard lock(q.mutex);
      q.tasks.push_back(std::move(task));
    }
    q.wake.notify_one();
  }
  // On the shard's own thread (the hub's WakeFn).
  void wakeAt(std::size_t shard, std::int64_t dueMs) { shards_[shard].wakeMs = dueMs; }
  // Waits until every shard has run everything posted to it before this call.
  void barrier() {
    std::mutex m;
    std::condition_variable cv;
    std::size_t done = 0;
    for (std::size_t i = 0; i < shards_.size(); ++i)
      post(i, [&] {
        std::lock_guard lock(m);
        ++done;
        cv.notify_one();
      });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return done == shards_.size(); });
  }
  void stop() {
    for (auto& q : shards_) {
      {
        std::lock_guard lock(q.mutex);
        q.stopping = true;
      }
      q.wake.notify_one();
    }
    for (auto& q : shards_)
      if (q.thread.joinable()) q.thread.join();
  }

 private:
  struct Queue {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;
    bool stopping = false;
    std::int64_t wakeMs = 0;  // the shard thread's own
    std::thread thread;
  };
  void run(Hub& hub, std::size_t shard) {
    Queue& q = shards_[shard];
    std::int64_t nextTick = steadyMs() + 50;
    for (;;) {
      std::deque<std::function<void()>> ready;
      {
        std::unique_lock lock(q.mutex);
        q.wake.wait_for(lock, std::chrono::milliseconds(5),
                        [&] { return q.stopping || !q.tasks.empty(); });
        if (q.stopping) return;
        ready.swap(q.tasks);
      }
      for (auto& task : ready) task();
      const std::int64_t now = steadyMs();
      if (q.wakeMs != 0 && now >= q.wakeMs) {
        q.wakeMs = 0;
        hub.flushBatches(shard, now);
      }
      if (now >= nextTick) {
        hub.tick(shard);
        nextTick = now + 50;
      }
    }
  }
  std::deque<Queue> shards_;
};

// One connection: the real Conversation over a transport that records, on the member's shard
// thread, what it is sent. The test thread reads the records only after a barrier, apart from
// the two atomics it polls.
class Member final : public Transport, public std::enable_shared_from_this<Member> {
 public:
  Member(std::string name, std::string room, std::size_t shard)
      : shard(shard), conversation_(*this, std::move(name), std::move(room)) {}

  void join(ConversationContext& cx, std::optional<std::uint64_t> since) {
    conversation_.start(cx, since);
  }
  void leave(ConversationContext& cx) { conversation_.end(cx); }
  void text(ConversationContext& cx, const std::string& json) { conversation_.onText(cx, json); }

  void send(const Frame& frame) override { record(frame->bytes); }
  bool canHold(std::size_t) override { return true; }
  void sendCatchUp(std::span<const Frame> frames) override {
    for (const auto& f : frames) record(f->bytes);
  }
  void close(std::uint16_t code, const char*) override { closedWith = code; }
  std::shared_ptr<void> lifetime() override { return shared_from_this(); }

  const std::size_t shard;
  // Shard thread only (read by the test after a barrier):
  std::vector<std::uint64_t> ids;  // chat messages from history and live frames, in order
  std::vector<std::string> contents;
  std::vector<std::string> problems;  // pages out of order and the like
  std::uint16_t closedWith = 0;
  // Polled by the test thread:
  std::atomic<std::uint64_t> lastId{0};
  std::atomic<std::size_t> pages{0};  // pages asked for and answered

 private:
  void record(const std::string& bytes) {
    for (std::size_t at = 0, end; (end = bytes.find('\n', at)) != std::string::npos; at = end + 1)
      recordOne(std::string_view(bytes).substr(at, end - at));
  }
  void recordOne(std::string_view json) {
    auto v = boost::json::parse(json).as_object();
    const auto type = v.at("type").as_string();
    auto take = [this](const boost::json::object& m) {
      ids.push_back(static_cast<std::uint64_t>(m.at("id").as_int64()));
      contents.emplace_back(m.at("content").as_string());
      lastId.store(ids.back(), std::memory_order_release);
    };
    if (type == "message") take(v);
    if (type == "history" && v.contains("before")) {
      // A page asked for: ascending, all below `before`; not part of the live stream.
      ++pages;
      std::uint64_t prev = 0;
      const auto before = static_cast<std::uint64_t>(v.at("before").as_int64());
      for (auto& m : v.at("messages").as_array()) {
        const auto id = static_cast<std::uint64_t>(m.as_object().at("id").as_int64());
        if (id <= prev || id >= before) problems.push_back("page order: " + std::string(json));
        prev = id;
      }
    } else if (type == "history") {
      for (auto& m : v.at("messages").as_array()) take(m.as_object());
    }
    if (type == "error") problems.push_back("error frame: " + std::string(json));
  }

  Conversation conversation_;
};

TEST(HubThreads, MembersOnEveryShardAndTheStoreThreadsAgreeOnEachRoomsOrder) {
  const auto dir = std::filesystem::temp_directory_path() /
                   numbered("parley-hubthreads-", static_cast<std::uint64_t>(::getpid()));
  std::filesystem::remove_all(dir);
  {
    const std::string url = "sqlite:" + (dir / "hub.db").string();
    auto writer = std::make_unique<store::StoreWriter>(store::openStore(url), store::Retention{});
    auto reader = std::make_unique<store::StoreReader>(store::openStore(url));
    // Ingests the inbox and checkpoints every 20 ms: its thread meets the writer's and the
    // reader's in the inbox many times during the test.
    auto maintainer = std::make_unique<store::StoreMaintainer>(store::openStore(url),
                                                               std::chrono::milliseconds(20));

    constexpr std::size_t kShards = 3;
    ThreadedShards loop(kShards);
    HubEnvironment env;
    env.shardCount = kShards;
    env.post = [&loop](std::size_t s, std::function<void()> t) { loop.post(s, std::move(t)); };
    env.wake = [&loop](std::size_t s, std::int64_t due) { loop.wakeAt(s, due); };
    env.encode = &encode;
    env.unixClock = &unixMs;
    env.steadyClock = &steadyMs;
    env.writer = writer.get();
    env.reader = reader.get();
    env.options.historyOnJoin = 20;
    Hub hub(std::move(env));
    metrics::Metrics metrics;
    const auth::TokenService tokens(std::string(32, 's'), 3600);
    std::deque<ConversationContext> cx;
    for (std::size_t i = 0; i < kShards; ++i)
      cx.push_back(ConversationContext{hub, i, metrics, tokens, ConversationOptions{{}, 0}, &encode,
                                       &steadyMs, &unixMs});
    loop.start(hub);

    const std::vector<std::string> rooms{"alpha", "beta", "gamma", "delta"};
    std::vector<std::shared_ptr<Member>> observers;
    for (std::size_t r = 0; r < rooms.size(); ++r) {
      auto m = std::make_shared<Member>(numbered("observer", static_cast<std::uint64_t>(r)),
                                        rooms[r], r % kShards);
      loop.post(m->shard, [&cx, m] { m->join(cx[m->shard], std::nullopt); });
      observers.push_back(m);
    }
    loop.barrier();

    // The test thread decides, the shards act: joins (some resuming), messages, pages, room
    // lists and leaves, posted to random shards with no waiting between them.
    std::mt19937 rng(2026);
    std::vector<std::uint64_t> sent(rooms.size(), 0);
    std::vector<std::shared_ptr<Member>> present;  // per room, see `roomOf`
    std::vector<std::size_t> roomOf;
    std::vector<std::shared_ptr<Member>> everyone(observers);
    std::atomic<int> roomLists{0};
    for (int step = 0; step < 600; ++step) {
      const unsigned what = rng() % 20;
      if (what < 3 || present.empty()) {
        const std::size_t r = rng() % rooms.size();
        const std::size_t shard = rng() % kShards;
        auto m = std::make_shared<Member>(numbered("u", static_cast<std::uint64_t>(step)), rooms[r],
                                          shard);
        // Half resume from a point the observer has certainly passed.
        std::optional<std::uint64_t> since;
        if (rng() % 2) since = observers[r]->lastId.load(std::memory_order_acquire) / 2;
        loop.post(shard, [&cx, m, since] { m->join(cx[m->shard], since); });
        present.push_back(m);
        roomOf.push_back(r);
        everyone.push_back(m);
      } else if (what < 15) {
        const std::size_t i = rng() % present.size();
        const std::size_t r = roomOf[i];
        auto& m = present[i];
        const std::string text = numbered(numbered(R"({"content":"m)", sent[r]++) + "-",
                                          static_cast<std::uint64_t>(step)) +
                                 R"("})";
        loop.post(m->shard, [&cx, m, text] { m->text(cx[m->shard], text); });
      } else if (what < 17) {
        auto& m = present[rng() % present.size()];
        loop.post(m->shard, [&cx, m] {
          m->text(cx[m->shard], R"({"type":"history","before":1000000,"limit":15})");
        });
      } else if (what < 18) {
        // What the HTTP routes ask on any shard: the room list, a room's presence and a page
        // (through the hub and the reader), and /healthz's and /metrics' figures, read while
        // the writer, the reader and the maintainer change them.
        const std::size_t shard = rng() % kShards;
        const std::string room = rooms[rng() % rooms.size()];
        loop.post(shard, [&hub, &roomLists, &metrics, &writer, shard, room] {
          hub.listRooms(shard, 100,
                        [&roomLists](bool, std::vector<Hub::RoomInfo>) { ++roomLists; });
          hub.presence(shard, room, [](std::vector<std::string>) {});
          hub.history(shard, room, 0, 50, [](HistoryPage) {});
          std::uint64_t figures = hub.roomCount() + hub.messagesSequenced() + hub.storeRefusals() +
                                  hub.duplicatesSuppressed() + hub.catchUpMarkers() +
                                  hub.catchUpReads() + writer->committed() +
                                  writer->backlog().waiting + writer->healthy() +
                                  writer->lastError().size() + writer->kind().size();
          figures += metrics.renderPrometheus({}).size();
          EXPECT_GT(figures, 0u);
        });
      } else if (present.size() > 1) {
        const std::size_t i = rng() % present.size();
        auto m = present[i];
        loop.post(m->shard, [&cx, m] { m->leave(cx[m->shard]); });
        present.erase(present.begin() + static_cast<std::ptrdiff_t>(i));
        roomOf.erase(roomOf.begin() + static_cast<std::ptrdiff_t>(i));
      }
      if (step % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }

    // Everyone still present, and every observer, ends at its room's last id.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    auto caughtUp = [&] {
      for (std::size_t r = 0; r < rooms.size(); ++r)
        if (observers[r]->lastId.load(std::memory_order_acquire) != sent[r]) return false;
      for (std::size_t i = 0; i < present.size(); ++i)
        if (present[i]->lastId.load(std::memory_order_acquire) != sent[roomOf[i]]) return false;
      return true;
    };
    while (!caughtUp() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto pagesAnswered = [&] {
      std::size_t n = 0;
      for (auto& m : everyone) n += m->pages.load();
      return n;
    };
    const std::int64_t answersDeadline = steadyMs() + 10'000;
    while ((roomLists.load() == 0 || pagesAnswered() == 0) && steadyMs() < answersDeadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(caughtUp());
    for (auto& m : everyone) loop.post(m->shard, [&cx, m] { m->leave(cx[m->shard]); });
    loop.barrier();
    loop.stop();  // from here on the records are the test thread's
    // As the server stops: the store threads go before the hub they call into; what they still
    // answer is posted to queues that no longer run.
    maintainer.reset();
    reader.reset();
    writer.reset();

    EXPECT_GT(roomLists.load(), 0);
    EXPECT_GT(pagesAnswered(), 0u);
    for (std::size_t r = 0; r < rooms.size(); ++r) {
      const auto& ids = observers[r]->ids;
      ASSERT_EQ(ids.size(), sent[r]) << rooms[r];
      for (std::size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], i + 1) << rooms[r];
    }
    for (std::size_t i = 0; i < everyone.size(); ++i) {
      const Member& m = *everyone[i];
      EXPECT_EQ(m.closedWith, 0) << i;
      EXPECT_TRUE(m.problems.empty()) << i << ": " << m.problems.front();
      if (m.ids.empty()) continue;
      // Its room: the observer whose contents hold its first message.
      const Member* observer = nullptr;
      for (auto& o : observers)
        if (o->ids.size() >= m.ids.front() && o->contents[m.ids.front() - 1] == m.contents.front())
          observer = o.get();
      ASSERT_NE(observer, nullptr) << i;
      for (std::size_t k = 0; k < m.ids.size(); ++k) {
        ASSERT_EQ(m.ids[k], m.ids.front() + k) << "member " << i << " at " << k;
        ASSERT_EQ(m.contents[k], observer->contents[m.ids[k] - 1]) << "member " << i;
      }
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::chat
