// RoomSubscription: one connection's place in one room, the member the hub knows. Holds the
// room's live frames while the room catches up (history, then presence) and drops, by id, the
// messages that catch-up already carried. Never does I/O: what it lets through goes to its
// conversation's transport.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/Member.h"

namespace parley::chat {

class Conversation;
struct ConversationContext;

class RoomSubscription final : public Member {
 public:
  RoomSubscription(Conversation& conversation, std::string room);
  RoomSubscription(const RoomSubscription&) = delete;
  RoomSubscription& operator=(const RoomSubscription&) = delete;

  const std::string& room() const { return room_; }
  bool joined() const { return inRoom_; }
  // The typing state this connection last told the room (a message ends typing).
  bool typingState() const { return typingState_; }
  void setTypingState(bool state) { typingState_ = state; }
  // The connection's token may read this room but not write to it (its parley_rooms).
  bool readOnly() const { return readOnly_; }
  void setReadOnly(bool readOnly) { readOnly_ = readOnly; }

  // Joins the room; its catch-up begins (the replay of `since`, or the join history). `handle`
  // is this subscription as the hub holds it: weakly, so that work still on its way to a
  // closed connection finds nothing.
  void join(ConversationContext& context, std::weak_ptr<Member> handle,
            std::optional<std::uint64_t> since);
  // Leaves the room (the others see the leave) and drops what it held. Idempotent.
  void leave(ConversationContext& context);

  // Member: called by the hub on this connection's shard.
  const std::string& username() const override;
  void deliver(const Frame& frame) override;
  void endCatchUp(std::vector<Frame> frames, std::uint64_t coveredId) override;
  bool catchingUp() const override { return catchingUp_; }
  void evicted(std::uint16_t closeCode, const char* reason, const Frame& notice) override;

 private:
  void dropHeld();

  Conversation& conversation_;
  std::string room_;
  // Live frames that arrived while catching up, sent after the catch-up's own frames.
  std::vector<Frame> held_;
  std::uint64_t coveredId_ = 0;  // the highest message id the catch-up carried
  bool catchingUp_ = false;
  bool inRoom_ = false;
  bool typingState_ = false;
  bool readOnly_ = false;  // in the padding after the flags above: no byte more per connection
};

}  // namespace parley::chat
