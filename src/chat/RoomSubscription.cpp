#include "chat/RoomSubscription.h"

#include "chat/Conversation.h"

namespace parley::chat {

RoomSubscription::RoomSubscription(Conversation& conversation, std::string room)
    : conversation_(conversation), room_(std::move(room)) {}

const std::string& RoomSubscription::username() const { return conversation_.username(); }

void RoomSubscription::join(ConversationContext& context, std::weak_ptr<Member> handle,
                            std::optional<std::uint64_t> since) {
  // Live frames are held until the history (if any) and the presence list have gone out.
  catchingUp_ = true;
  inRoom_ = true;
  context.hub.join(context.shard, room_, this, std::move(handle), since);
}

void RoomSubscription::leave(ConversationContext& context) {
  dropHeld();
  if (!inRoom_) return;
  inRoom_ = false;
  context.hub.leave(context.shard, room_, this);
}

void RoomSubscription::deliver(const Frame& frame) {
  // A message the history already carried can still arrive live after the catch-up ended (its
  // fan-out from another shard raced the history read): ids only grow, so one compare drops it.
  if (frame->messageId != 0 && frame->messageId <= coveredId_) return;
  Transport& transport = conversation_.transport();
  if (!catchingUp_) return transport.send(frame);
  // Held frames count against the same bound as queued ones.
  if (!transport.canHold(frame->bytes.size())) return;
  held_.push_back(frame);
  conversation_.heldBytes_ += frame->bytes.size();
}

void RoomSubscription::endCatchUp(std::vector<Frame> frames, std::uint64_t coveredId) {
  if (!catchingUp_) return;
  catchingUp_ = false;
  coveredId_ = coveredId;
  std::vector<Frame> held;
  held.swap(held_);
  for (const auto& f : held) conversation_.heldBytes_ -= f->bytes.size();
  conversation_.transport().sendCatchUp(frames);
  // Live frames the history already covered are dropped there: no duplicate at the seam.
  for (const auto& f : held) deliver(f);
}

void RoomSubscription::evicted(std::uint16_t closeCode, const char* reason, const Frame& notice) {
  // Already out of the room (the registry took it out): leave() must not go out again.
  inRoom_ = false;
  catchingUp_ = false;  // a catch-up still on its way finds nothing to end
  dropHeld();
  conversation_.evicted(*this, closeCode, reason, notice);  // may end this subscription: last
}

void RoomSubscription::dropHeld() {
  for (const auto& f : held_) conversation_.heldBytes_ -= f->bytes.size();
  held_.clear();
}

}  // namespace parley::chat
