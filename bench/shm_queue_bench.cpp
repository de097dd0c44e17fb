// Round-trip latency of a small message (32 bytes) between two processes through SpscQueue in a
// SharedMemory segment (a request queue and a reply queue: ping-pong), against the same queues
// between two threads of one process, and against the kernel's channels between two processes:
// a pair of pipes and a Unix socket pair. One iteration is one round trip (real time, ns).
// Issue 12's targets: the processes' round trip at most 2x the threads' one, and faster than the
// pipe and the socket.
//   round_trip/shm_queue/processes   the echo side is a forked process
//   round_trip/shm_queue/threads     the echo side is a thread
//   round_trip/shm_queue_spinning/*  the same with try_push/try_pop in busy loops: the latency
//                                    of the queue itself when both sides have a core
//   round_trip/pipe/processes        two pipes, write(2) and read(2)
//   round_trip/socketpair/processes  AF_UNIX SOCK_STREAM socket pair
// push/pop spin briefly before sleeping (adapting how long to whether spinning pays), so on a
// machine with two idle cores the queues' round trips never sleep; on a loaded one they sleep
// and wake through a futex, as the pipe and the socket always go through the scheduler. On a
// shared machine, `chrt -f 5 bench_shm_queue` gives each side a core (what the targets assume);
// the busy-loop rows take a whole time slice per round trip when a side has no core.
// Every row also reports cpu_ns: the CPU time (user + system) both sides spent per round trip,
// which the real time hides: a side that spins burns its core while it waits, one that sleeps
// does not.

#include <core/memory/system/shared_memory.hpp>
#include <core/memory/system/shared_queue.hpp>

#include <core/memory/util/memory_barrier.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace cm = core::memory;

namespace {

struct Message {
  std::uint64_t sequence;
  char payload[24];
};
constexpr std::uint64_t stop = ~std::uint64_t{0};

using Queue = cm::SpscQueue<Message>;
constexpr std::size_t capacity = 64;

/// The request queue and the reply queue, one after the other in a segment.
struct Channel {
  cm::SharedMemory segment;
  Queue* requests;
  Queue* replies;
  Channel()
      : segment(cm::SharedMemory::create("/core-memory-bench-shm-queue-" + std::to_string(::getpid()),
                                         2 * Queue::bytes_for(capacity), {.remove_on_destroy = true})) {
    auto* bytes = static_cast<char*>(segment.data());
    requests = &Queue::create(bytes, Queue::bytes_for(capacity));
    replies = &Queue::create(bytes + Queue::bytes_for(capacity), Queue::bytes_for(capacity));
  }
};

/// CPU seconds (user + system) in `u`.
double cpu_seconds(const rusage& u) {
  const auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}
/// CPU seconds this process (all its threads) has used so far.
double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return cpu_seconds(u);
}
/// Waits for `child` and returns the CPU seconds it used.
double reap(pid_t child) {
  int status = 0;
  rusage u{};
  ::wait4(child, &status, 0, &u);
  return cpu_seconds(u);
}
/// Reports `seconds` of CPU (both sides) per round trip.
void report_cpu(benchmark::State& state, double seconds) {
  state.counters["cpu_ns"] = seconds * 1e9 / static_cast<double>(state.iterations());
}

/// How a side waits: push/pop (spin briefly, then sleep), or try_push/try_pop in a busy loop.
enum class Wait { blocking, spinning };

template <Wait W>
void send(Queue& q, const Message& m) {
  if constexpr (W == Wait::blocking) {
    q.push(m);
  } else {
    while (!q.try_push(m)) cm::cpu_pause();
  }
}

template <Wait W>
Message receive(Queue& q) {
  if constexpr (W == Wait::blocking) {
    return q.pop();
  } else {
    Message m;
    while (!q.try_pop(m)) cm::cpu_pause();
    return m;
  }
}

template <Wait W>
void echo(Queue& requests, Queue& replies) {
  for (;;) {
    Message m = receive<W>(requests);
    if (m.sequence == stop) return;
    ++m.sequence;
    send<W>(replies, m);
  }
}

template <Wait W>
void ping_pong(benchmark::State& state, Queue& requests, Queue& replies) {
  Message m{0, "ping"};
  for (auto _ : state) {
    send<W>(requests, m);
    m = receive<W>(replies);
  }
  if (m.sequence != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost or reordered messages");
  send<W>(requests, Message{stop, {}});
}

template <Wait W>
void shm_queue_processes(benchmark::State& state) {
  Channel c;
  const double cpu = own_cpu_seconds();
  const pid_t child = ::fork();
  if (child == 0) {
    echo<W>(*c.requests, *c.replies);
    ::_exit(0);
  }
  ping_pong<W>(state, *c.requests, *c.replies);
  const double own = own_cpu_seconds() - cpu;
  report_cpu(state, own + reap(child));
}

template <Wait W>
void shm_queue_threads(benchmark::State& state) {
  Channel c;
  const double cpu = own_cpu_seconds();
  std::thread other([&] { echo<W>(*c.requests, *c.replies); });
  ping_pong<W>(state, *c.requests, *c.replies);
  other.join();
  report_cpu(state, own_cpu_seconds() - cpu);
}

bool write_all(int fd, const Message& m) { return ::write(fd, &m, sizeof m) == static_cast<ssize_t>(sizeof m); }
bool read_all(int fd, Message& m) {
  auto* p = reinterpret_cast<char*>(&m);
  for (std::size_t got = 0; got < sizeof m;) {
    const ssize_t n = ::read(fd, p + got, sizeof m - got);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

/// Ping-pong through file descriptors: the parent writes to `out` and reads `in`; the child
/// reads `child_in` and writes `child_out`, until end of file.
void descriptors(benchmark::State& state, int out, int in, int child_in, int child_out, int close_in_child,
                 int close_in_parent) {
  const double cpu = own_cpu_seconds();
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(close_in_child);
    Message m{};
    while (read_all(child_in, m)) {
      ++m.sequence;
      if (!write_all(child_out, m)) break;
    }
    ::_exit(0);
  }
  if (close_in_parent >= 0) ::close(close_in_parent);
  Message m{0, "ping"};
  bool ok = true;
  for (auto _ : state) {
    ok = ok && write_all(out, m) && read_all(in, m);
  }
  if (!ok || m.sequence != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost or reordered messages");
  const double own = own_cpu_seconds() - cpu;
  ::close(out);  // end of file for the child
  report_cpu(state, own + reap(child));
}

void pipe_processes(benchmark::State& state) {
  int to_child[2], to_parent[2];
  if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) std::abort();
  descriptors(state, to_child[1], to_parent[0], to_child[0], to_parent[1], to_child[1], -1);
  ::close(to_child[0]);
  ::close(to_parent[0]);
  ::close(to_parent[1]);
}

void socketpair_processes(benchmark::State& state) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) std::abort();
  // The parent talks on fds[0], the child on fds[1]; closing fds[0] ends the child's reads.
  descriptors(state, fds[0], fds[0], fds[1], fds[1], fds[0], fds[1]);
}

constexpr double min_time = 0.5;  // seconds per row: a short run on a shared machine

BENCHMARK(shm_queue_processes<Wait::blocking>)->Name("round_trip/shm_queue/processes")->UseRealTime()->MinTime(min_time);
BENCHMARK(shm_queue_threads<Wait::blocking>)->Name("round_trip/shm_queue/threads")->UseRealTime()->MinTime(min_time);
BENCHMARK(shm_queue_processes<Wait::spinning>)
    ->Name("round_trip/shm_queue_spinning/processes")
    ->UseRealTime()
    ->MinTime(min_time);
BENCHMARK(shm_queue_threads<Wait::spinning>)
    ->Name("round_trip/shm_queue_spinning/threads")
    ->UseRealTime()
    ->MinTime(min_time);
BENCHMARK(pipe_processes)->Name("round_trip/pipe/processes")->UseRealTime()->MinTime(min_time);
BENCHMARK(socketpair_processes)->Name("round_trip/socketpair/processes")->UseRealTime()->MinTime(min_time);

}  // namespace
