// The spec's object pool pattern: messages taken from a pool and returned automatically.
#include <core/memory.hpp>

#include <cstdio>
#include <deque>
#include <string>

namespace cm = core::memory;

struct Data {
  int id;
  std::string payload;
};

struct Message {
  explicit Message(const Data& d) : id(d.id), text(d.payload) {}
  int id;
  std::string text;
};

cm::ObjectPool<Message> message_pool(100);
std::deque<cm::ObjectPool<Message>::UniquePtr> queue;

void send_message(const Data& data) {
  auto msg = message_pool.make_unique(data);
  queue.push_back(std::move(msg));  // returned to the pool when consumed
}

int main() {
  std::size_t peak = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 80; ++i) send_message({i, "message " + std::to_string(i)});
    peak = std::max(peak, message_pool.size());
    while (!queue.empty()) queue.pop_front();  // consume
  }
  std::printf("peak %zu live messages, %zu in use now, capacity %zu (one chunk: no growth after round one)\n",
              peak, message_pool.size(), message_pool.capacity());
  return message_pool.size() == 0 && message_pool.capacity() == 100 ? 0 : 1;
}
