#include "chat/CatchUp.h"

#include <algorithm>
#include <utility>

#include "chat/HistoryJson.h"
#include "chat/HubEnvironment.h"
#include "chat/Protocol.h"
#include "store/StoreReader.h"

namespace parley::chat {

CatchUp::CatchUp(const HubEnvironment& env) : env_(env) {}

bool CatchUp::needsSeam(std::optional<std::uint64_t> since) const {
  return env_.reader && (since || env_.options.historyOnJoin > 0);
}

void CatchUp::end(const std::weak_ptr<Member>& member, std::vector<Frame> frames,
                  std::uint64_t coveredId) {
  if (auto m = member.lock()) m->endCatchUp(std::move(frames), coveredId);
}

std::vector<Frame> CatchUp::failure(const std::string& room, const std::string& why,
                                    const Frame& presence) const {
  return {env_.encode(buildErrorJson("history_unavailable", why, {}, room), 0), presence};
}

void CatchUp::finish(std::size_t shard, const std::string& room, std::weak_ptr<Member> member,
                     std::optional<std::uint64_t> since, JoinAnswer answer) {
  // Nothing to read: no history could repeat a held frame, so all of them go out.
  if (!needsSeam(since)) return end(member, {std::move(answer.presence)}, 0);
  if (!answer.seamError.empty())
    return end(member,
               failure(room, "history could not be read: " + answer.seamError, answer.presence),
               since.value_or(0));
  const std::uint64_t seam = answer.seam;
  if (seam == 0 || (since && *since >= seam)) {
    // Nothing at or below the seam to send: the same frames a read of nothing would give.
    return end(member,
               {env_.encode(buildHistoryJson("[]", since && *since > 0 && seam > 0, 0, room), 0),
                std::move(answer.presence)},
               std::max(since.value_or(0), seam));
  }
  read(shard, room, std::move(member), since, std::move(answer.presence), seam);
}

void CatchUp::read(std::size_t shard, const std::string& room, std::weak_ptr<Member> member,
                   std::optional<std::uint64_t> since, Frame presence, std::uint64_t seam) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  auto job = [this, shard, room, member, since, seam, presence](store::MessageStore& store) {
    std::vector<store::StoredMessage> messages;
    std::vector<Frame> frames;
    store::StoreStatus st;
    const HubOptions& o = env_.options;
    if (since) {
      if (seam - *since > o.maxReplay) {
        // Too far behind: the newest max-replay messages, and a word that older ones exist.
        st = store.before(room, seam + 1, o.maxReplay, messages);
        if (st.ok && !messages.empty())
          frames.push_back(
              env_.encode(buildResumeTruncatedJson(*since, messages.front().id, room), 0));
      } else {
        st = store.after(room, *since, seam - *since, messages);
      }
      while (!messages.empty() && messages.back().id > seam) messages.pop_back();
      for (std::size_t i = 0; st.ok && i < messages.size(); i += o.replayPage) {
        const std::size_t end = std::min(messages.size(), i + o.replayPage);
        frames.push_back(env_.encode(
            buildHistoryJson(messagesArrayJson(messages, i, end), messages[i].id > 1, 0, room), 0));
      }
      if (st.ok && messages.empty())
        frames.push_back(env_.encode(buildHistoryJson("[]", *since > 0, 0, room), 0));
    } else {
      const std::size_t n = o.historyOnJoin;
      st = store.before(room, seam + 1, n + 1, messages);
      const bool hasMore = messages.size() > n;
      if (hasMore) messages.erase(messages.begin());
      if (st.ok)
        frames.push_back(env_.encode(
            buildHistoryJson(messagesArrayJson(messages, 0, messages.size()), hasMore, 0, room),
            0));
    }
    std::uint64_t covered = std::max(since.value_or(0), seam);
    if (!st.ok) {
      frames = failure(room, "history could not be read: " + st.error, presence);
      covered = since.value_or(0);
    } else {
      frames.push_back(presence);
    }
    // The one hop back from the reader thread to the member's shard.
    env_.post(shard, [member, frames = std::move(frames), covered]() mutable {
      end(member, std::move(frames), covered);
    });
  };
  if (!env_.reader->submit(std::move(job)))
    end(member, failure(room, "the server is too busy to read history", presence),
        since.value_or(0));
}

}  // namespace parley::chat
