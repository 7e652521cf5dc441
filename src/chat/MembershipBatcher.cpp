#include "chat/MembershipBatcher.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "chat/HubEnvironment.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "chat/RoomRegistry.h"

namespace parley::chat {

static_assert(kMaxUsernameChars * 4 <= 255, "a record's username length is one byte");

void appendMembershipRecord(std::string& records, const MembershipRecord& record) {
  assert(record.username.size() <= 255);  // names are checked at the door (chat/Names)
  const std::size_t at = records.size();
  records.resize(at + 1 + sizeof record.unixMillis + 1 + record.username.size());
  char* out = records.data() + at;
  out[0] = static_cast<char>(record.change);
  std::memcpy(out + 1, &record.unixMillis, sizeof record.unixMillis);
  out[1 + sizeof record.unixMillis] =
      static_cast<char>(static_cast<std::uint8_t>(record.username.size()));
  std::memcpy(out + 2 + sizeof record.unixMillis, record.username.data(), record.username.size());
}

MembershipRecord readMembershipRecord(std::string_view records, std::size_t at, std::size_t& next) {
  MembershipRecord r;
  const auto change = static_cast<std::uint8_t>(records[at]);
  assert(change <= static_cast<std::uint8_t>(Membership::Leave));
  r.change = static_cast<Membership>(change);
  std::memcpy(&r.unixMillis, records.data() + at + 1, sizeof r.unixMillis);
  const std::size_t len = static_cast<std::uint8_t>(records[at + 1 + sizeof r.unixMillis]);
  r.username = records.substr(at + 2 + sizeof r.unixMillis, len);
  next = at + 2 + sizeof r.unixMillis + len;
  return r;
}

MembershipBatcher::MembershipBatcher(const HubEnvironment& env)
    : env_(env), shards_(std::make_unique<ShardState[]>(env.shardCount)) {}

MembershipBatcher::~MembershipBatcher() = default;

// The room's members all get one write when the batch leaves, and while it waits the room holds
// each change once (a member holds nothing).
void MembershipBatcher::add(std::size_t shard, const std::string& room, LocalRoom& local,
                            std::string_view record) {
  auto& s = shards_[shard];
  PendingBatch& batch = local.batch;
  const std::int64_t now = env_.steadyClock();
  // A room whose membership changed within the last second is busy (a crowd arriving or
  // leaving): its members get one batch a second. A lone change shows within kBatchMs.
  const bool busy = (batch.lastBatchMs != 0 && now - batch.lastBatchMs < kBatchRepeatMs) ||
                    (batch.lastEventMs != 0 && now - batch.lastEventMs < kBatchRepeatMs);
  batch.lastEventMs = now;
  const std::size_t before = batch.records.size();
  batch.records.append(record);
  // Newcomers still catching up take it now: it leaves with their history (a joiner's own
  // join among them), no write of its own. They are at the end of the list, but for the rare
  // one a leave moved forward (it simply gets its part with the batch).
  Frame single;
  auto m = local.members.rbegin();
  for (; m != local.members.rend() && (*m)->catchingUp(); ++m) {
    const std::size_t from =
        std::exchange((*m)->batchFrom_, static_cast<std::uint32_t>(batch.records.size()));
    if (from < before) {
      (*m)->deliver(std::make_shared<const WireFrame>(
          WireFrame{wire(room, std::string_view(batch.records).substr(from), nullptr), 0, {}}));
      continue;
    }
    if (!single)
      single = std::make_shared<const WireFrame>(WireFrame{wire(room, record, nullptr), 0, {}});
    (*m)->deliver(single);
  }
  if (m == local.members.rend()) {
    // Every member has all of it already: nothing waits (a stale timer entry finds no batch).
    batch.records = std::string();
    batch.dueMs = 0;
    for (Member* member : local.members) member->batchFrom_ = 0;
    return;
  }
  if (batch.records.size() >= kBatchMaxBytes) return send(room, local, now);
  if (before != 0) return;  // the batch had begun: its time is set
  batch.dueMs = now + (busy ? kBatchRepeatMs : kBatchMs);
  (busy ? s.repeat : s.soon).push_back({batch.dueMs, room});
  if (s.wakeMs == 0 || batch.dueMs < s.wakeMs) askWake(shard);
}

std::string MembershipBatcher::wire(
    std::string_view room, std::string_view records,
    std::vector<std::pair<std::uint32_t, std::uint32_t>>* marks) const {
  std::string out;
  out.reserve(records.size() * 4);
  for (std::size_t at = 0, next = 0; at < records.size(); at = next) {
    const MembershipRecord r = readMembershipRecord(records, at, next);
    if (marks)
      marks->emplace_back(static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(out.size()));
    out.append(env_.encode(buildMembershipJson(r.change == Membership::Join ? "join" : "leave",
                                               r.username, r.unixMillis, room),
                           0)
                   ->bytes);
  }
  return out;
}

void MembershipBatcher::send(const std::string& room, LocalRoom& local, std::int64_t nowMs) {
  // Frames of up to kBatchChunkRecords changes each, shared by every member: a member added
  // while the batch filled copies at most the chunk its part starts in (a crowd of hundreds
  // joining would otherwise cost a copy of most of the batch per member).
  struct Mark {
    std::uint32_t record;  // offset in the batch's records
    std::uint32_t chunk;
    std::uint32_t wire;  // offset in that chunk's frame
  };
  std::vector<Frame> chunks;
  std::vector<Mark> marks;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> chunkMarks;
  const std::string_view records = local.batch.records;
  for (std::size_t at = 0; at < records.size();) {
    std::size_t end = at;
    for (std::size_t k = 0; k < kBatchChunkRecords && end < records.size(); ++k)
      readMembershipRecord(records, end, end);
    chunkMarks.clear();
    chunks.push_back(std::make_shared<const WireFrame>(
        WireFrame{wire(room, records.substr(at, end - at), &chunkMarks), 0, {}}));
    for (const auto& [record, offset] : chunkMarks)
      marks.push_back({static_cast<std::uint32_t>(at + record),
                       static_cast<std::uint32_t>(chunks.size() - 1), offset});
    at = end;
  }
  local.batch.records = std::string();  // `records` is not used past this point
  local.batch.dueMs = 0;
  local.batch.lastBatchMs = nowMs;
  for (Member* m : local.members) {
    const std::uint32_t from = std::exchange(m->batchFrom_, 0);
    auto mark = std::lower_bound(marks.begin(), marks.end(), from,
                                 [](const Mark& x, std::uint32_t r) { return x.record < r; });
    if (mark == marks.end()) continue;  // nothing arrived after it was added
    std::size_t c = mark->chunk;
    if (mark->wire != 0)  // its part starts inside a chunk: a copy of that chunk's rest
      m->deliver(std::make_shared<const WireFrame>(
          WireFrame{chunks[c++]->bytes.substr(mark->wire), 0, {}}));
    for (; c < chunks.size(); ++c) m->deliver(chunks[c]);
  }
}

void MembershipBatcher::flushDue(std::size_t shard, std::int64_t nowMs, RoomRegistry& rooms) {
  auto& s = shards_[shard];
  s.wakeMs = 0;
  const std::int64_t until = nowMs + kBatchSlackMs;
  std::size_t sent = 0;
  for (auto* list : {&s.soon, &s.repeat}) {
    while (!list->empty() && list->front().dueMs <= until) {
      if (sent == kBatchesPerTurn) {
        // The rest after these have been written.
        env_.post(shard, [this, shard, nowMs, &rooms] { flushDue(shard, nowMs, rooms); });
        return;
      }
      const Due due = std::move(list->front());
      list->pop_front();
      LocalRoom* local = rooms.find(shard, due.room);
      if (local && local->batch.dueMs == due.dueMs && !local->batch.records.empty()) {
        send(due.room, *local, nowMs);
        ++sent;
      }
    }
  }
  askWake(shard);
}

void MembershipBatcher::askWake(std::size_t shard) {
  auto& s = shards_[shard];
  std::int64_t due = 0;
  if (!s.soon.empty()) due = s.soon.front().dueMs;
  if (!s.repeat.empty() && (due == 0 || s.repeat.front().dueMs < due)) due = s.repeat.front().dueMs;
  if (due == 0 || due == s.wakeMs) return;
  s.wakeMs = due;
  env_.wake(shard, due);
}

}  // namespace parley::chat
