#include "chat/HistoryJson.h"

#include "store/MessageStore.h"

namespace parley::chat {

ChatMessage chatMessageOf(const store::StoredMessage& m) {
  ChatMessage c;
  c.id = m.id;
  c.room = m.room;
  c.username = m.username;
  c.content = m.content;
  c.clientId = m.clientId;
  c.unixMillis = m.unixMillis;
  c.deleted = m.deleted;
  c.editedMillis = m.editedMillis;
  return c;
}

std::string messagesArrayJson(const std::vector<store::StoredMessage>& messages, std::size_t from,
                              std::size_t to) {
  std::string out = "[";
  for (std::size_t i = from; i < to; ++i) {
    if (i != from) out.push_back(',');
    appendMessageJson(out, chatMessageOf(messages[i]));
  }
  out.push_back(']');
  return out;
}

}  // namespace parley::chat
