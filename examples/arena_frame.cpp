// The spec's arena pattern: per-frame allocations rolled back at the end of each frame.
#include <core/memory.hpp>

#include <cstdio>
#include <memory_resource>
#include <vector>

namespace cm = core::memory;

struct Particle {
  float position[3];
  float velocity[3];
};

cm::Arena frame_arena(1024 * 1024);  // 1 MiB; nothing is allocated until the first frame

double process_frame(int frame) {
  cm::Arena::ResourceScope scope(frame_arena);  // everything below is freed when the frame ends

  auto* particles = frame_arena.allocate<Particle>(1000);
  auto* temp_buffer = frame_arena.allocate<float>(10000);
  std::pmr::vector<int> visible(&scope);  // pmr containers allocate in the frame too

  double energy = 0;
  for (int i = 0; i < 1000; ++i) {
    particles[i] = Particle{{0, 0, 0}, {float(i), float(frame), 1}};
    temp_buffer[i] = particles[i].velocity[0] * particles[i].velocity[0];
    energy += temp_buffer[i];
    if (i % 7 == 0) visible.push_back(i);
  }
  return energy + static_cast<double>(visible.size());
}

int main() {
  double total = 0;
  for (int frame = 0; frame < 100; ++frame) total += process_frame(frame);
  std::printf("100 frames, energy %.0f, arena footprint %zu bytes, in use after the frames: %zu\n", total,
              frame_arena.bytes_allocated(), frame_arena.bytes_used());
  return frame_arena.bytes_used() == 0 ? 0 : 1;
}
