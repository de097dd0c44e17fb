#pragma once
// Replaces the misuse handler for the lifetime of the object and records what reaches it.

#include <core/memory/util/error.hpp>

#include <string>
#include <vector>

namespace test {

struct CapturedReport {
  core::memory::error_kind kind;
  std::string allocator;
  const void* address;
  std::size_t size;
  std::size_t alignment;
  std::string text;
};

class MisuseCapture {
 public:
  MisuseCapture() : previous_(core::memory::set_misuse_handler(&record)) { reports().clear(); }
  ~MisuseCapture() { core::memory::set_misuse_handler(previous_); }
  MisuseCapture(const MisuseCapture&) = delete;
  MisuseCapture& operator=(const MisuseCapture&) = delete;

  static std::vector<CapturedReport>& reports() {
    static std::vector<CapturedReport> r;
    return r;
  }
  [[nodiscard]] std::size_t count() const { return reports().size(); }
  [[nodiscard]] const CapturedReport& last() const { return reports().back(); }

 private:
  static void record(const core::memory::error_report& r) {
    char text[512];
    core::memory::format_report(r, text, sizeof text);
    reports().push_back({r.kind, r.allocator ? r.allocator : "", r.address, r.size, r.alignment, text});
  }
  core::memory::misuse_handler previous_;
};

}  // namespace test
