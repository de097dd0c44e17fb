#include <core/memory/system/shared_memory.hpp>

#include <core/memory/system/error.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <utility>

namespace core::memory {

namespace {

namespace os = detail::os;

constexpr const char* component = "core::memory::SharedMemory";
constexpr std::size_t size_limit = static_cast<std::size_t>(PTRDIFF_MAX) / 2;

/// What is wrong with `name` (null if nothing); `canonical` gets "/name".
const char* check_name(std::string_view name, std::string& canonical) {
  const std::string_view bare = name.starts_with('/') ? name.substr(1) : name;
  if (bare.empty()) return "(the name is empty)";
  if (bare.find('\0') != std::string_view::npos) return "(the name has a NUL byte)";
  if (bare.find('/') != std::string_view::npos) return "(the name has a '/' after its first character)";
  if (bare.size() > NAME_MAX) return "(the name is longer than 255 characters)";
  if (bare == "." || bare == "..") return "(the name is '.' or '..')";
  canonical.assign(bare.size() + 1, '/');  // (not "/" + bare: g++ 12 warns falsely, -Wrestrict)
  bare.copy(canonical.data() + 1, bare.size());
  return nullptr;
}

/// "/name" or throws EINVAL naming `operation` and what is wrong.
std::string valid_name(std::string_view name, const char* operation) {
  std::string canonical;
  if (const char* wrong = check_name(name, canonical))
    detail::throw_system_error(EINVAL, component, operation, std::string(name).c_str(), wrong);
  return canonical;
}

/// 0 if an object is named `canonical` ("/name"; EACCES: one this process may not open), ENOENT
/// if none is, else the error that prevented knowing.
int look_up(const std::string& canonical) noexcept {
  int fd = -1;
  const int e = os::open_shared(canonical.c_str(), &fd);
  if (e == 0) (void)os::close_file(fd);
  return e == EACCES ? 0 : e;
}

}  // namespace

void detail::report_not_open(const char* component_name, const char* operation, const void* object) noexcept {
  char text[128];
  std::snprintf(text, sizeof text, "%s: used after move / not open", operation);
  report_misuse({error_kind::assertion, component_name, object, 0, 0, text, nullptr, 0});
}

enum class SharedMemory::How : unsigned char { create, open, open_or_create };

SharedMemory SharedMemory::create(std::string_view name, std::size_t size, SharedMemoryOptions options) {
  return make(How::create, name, size, options, {});
}

SharedMemory SharedMemory::open(std::string_view name, SharedMemoryOptions options) {
  return make(How::open, name, 0, options, {});
}

SharedMemory SharedMemory::open_or_create(std::string_view name, std::size_t size, SharedMemoryOptions options) {
  return make(How::open_or_create, name, size, options, {});
}

SharedMemory SharedMemory::create_prepared(std::string_view name, std::size_t size, SharedMemoryOptions options,
                                           Preparer prepare) {
  return make(How::create, name, size, options, prepare);
}

SharedMemory SharedMemory::open_or_create_prepared(std::string_view name, std::size_t size,
                                                   SharedMemoryOptions options, Preparer prepare) {
  return make(How::open_or_create, name, size, options, prepare);
}

SharedMemory SharedMemory::make(How how, std::string_view name, std::size_t size, SharedMemoryOptions options,
                                Preparer prepare) {
  const char* operation = how == How::create ? "create" : how == How::open ? "open" : "open_or_create";
  SharedMemory m;
  m.name_ = valid_name(name, operation);
  char text[96];
  if (how != How::open && size == 0) m.give_up(EINVAL, operation, "(size 0)");
  if (options.permissions > 0777) {
    std::snprintf(text, sizeof text, "(permissions 0%o: only the bits 0777 can be set)", options.permissions);
    m.give_up(EINVAL, operation, text);
  }
  if (size > size_limit || options.max_size > size_limit) {
    std::snprintf(text, sizeof text, "(%zu bytes: more than the address space allows)", std::max(size, options.max_size));
    m.give_up(ENOMEM, operation, text);
  }
  // A taken name is EEXIST before anything is sized, mapped or prepared for nothing (whose errors,
  // ENOSPC or ENOMEM, would hide it); the linkat below still decides a race.
  if (how == How::create && look_up(m.name_) == 0) m.give_up(EEXIST, operation);
  for (;;) {
    if (how != How::create) {
      const int e = os::open_shared(m.name_.c_str(), &m.fd_);
      if (e == 0) {
        // An object that is prepared when made is opened as it is (a managed segment records
        // its own limits, checked after this); others are grown to `size`. (open: size 0.)
        m.map_object(prepare.function ? 0 : size, options, operation);
        break;
      }
      if (e != ENOENT || how == How::open) m.give_up(e, operation);
    }
    // A new object is named only once it is sized, mapped and prepared: nobody sees it half-made,
    // and a creator that dies first leaves nothing.
    if (const int e = os::create_unnamed_shared(options.permissions, &m.fd_); e != 0) m.give_up(e, operation);
    m.map_object(size, options, operation);
    if (prepare.function) prepare.function(m, prepare.context);
    const int e = os::name_shared(m.fd_, m.name_.c_str());
    if (e == 0) {
      m.created_ = true;
      break;
    }
    if (e != EEXIST || how == How::create) m.give_up(e, operation);
    m.close();  // another creator named it first: open that one
  }
  m.remove_on_destroy_ = options.remove_on_destroy;
  return m;
}

void SharedMemory::map_object(std::size_t size, SharedMemoryOptions options, const char* operation) {
  char text[96];
  std::uint64_t now = 0;
  const int sized = size == 0 ? os::file_size(fd_, &now) : os::grow_file(fd_, size, &now);
  if (sized != 0) {
    std::snprintf(text, sizeof text, "(%zu bytes)", size);
    give_up(sized, operation, size == 0 ? nullptr : text);
  }
  if (now > size_limit) {
    std::snprintf(text, sizeof text, "(%llu bytes: more than the address space allows)",
                  static_cast<unsigned long long>(now));
    give_up(ENOMEM, operation, text);
  }
  const std::size_t reserve = align_up(std::max({options.max_size, size, static_cast<std::size_t>(now)}), os::page_size());
  if (reserve == 0) give_up(EINVAL, operation, "(the object is empty and no max_size was given to reserve)");
  // The whole reservation, even beyond the end of the object: growth needs no remap. At a
  // mapping_alignment boundary, so an address aligned to that much or less in one process is
  // aligned in every process.
  void* at = nullptr;
  int e = os::reserve(reserve, mapping_alignment, &at);
  if (e == 0) {
    e = os::map(fd_, 0, reserve, os::map_mode::read_write, false, at, &data_);
    if (e != 0) (void)os::release(at, reserve);
  }
  if (e != 0) {
    std::snprintf(text, sizeof text, "(mapping %zu bytes)", reserve);
    give_up(e, operation, text);
  }
  max_size_ = reserve;
  size_ = static_cast<std::size_t>(now);
}

bool SharedMemory::remove(std::string_view name) {
  const std::string canonical = valid_name(name, "remove");
  const int e = os::unlink_shared(canonical.c_str());
  if (e == ENOENT) return false;
  if (e != 0) detail::throw_system_error(e, component, "remove", canonical.c_str());
  return true;
}

bool SharedMemory::exists(std::string_view name) {
  const std::string canonical = valid_name(name, "exists");
  const int e = look_up(canonical);
  if (e == ENOENT) return false;
  if (e != 0) detail::throw_system_error(e, component, "exists", canonical.c_str());
  return true;
}

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : name_(std::move(o.name_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      max_size_(std::exchange(o.max_size_, 0)),
      fd_(std::exchange(o.fd_, -1)),
      created_(std::exchange(o.created_, false)),
      remove_on_destroy_(std::exchange(o.remove_on_destroy_, false)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    close();
    name_ = std::move(o.name_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    max_size_ = std::exchange(o.max_size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    created_ = std::exchange(o.created_, false);
    remove_on_destroy_ = std::exchange(o.remove_on_destroy_, false);
  }
  return *this;
}

SharedMemory::~SharedMemory() { close(); }

void SharedMemory::close() noexcept {
  if (data_) (void)os::release(data_, max_size_);
  if (fd_ >= 0) (void)os::close_file(fd_);
  if (remove_on_destroy_) (void)os::unlink_shared(name_.c_str());
  data_ = nullptr;
  size_ = max_size_ = 0;
  fd_ = -1;
  remove_on_destroy_ = false;
}

void SharedMemory::give_up(int error, const char* operation, const char* detail) {
  const std::string name = name_;
  close();
  detail::throw_system_error(error, component, operation, name.c_str(), detail);
}

bool SharedMemory::open_for(const char* operation) const noexcept {
  if constexpr (checks::hardened) {
    if (fd_ < 0) [[unlikely]] {
      detail::report_not_open(component, operation, this);
      return false;
    }
  }
  return true;
}

std::size_t SharedMemory::refresh() {
  if (!open_for("refresh")) return 0;
  std::uint64_t now = 0;
  if (const int e = os::file_size(fd_, &now); e != 0)
    detail::throw_system_error(e, component, "refresh", name_.c_str());
  size_ = static_cast<std::size_t>(std::min<std::uint64_t>(now, max_size_));
  return size_;
}

void SharedMemory::grow(std::size_t new_size) {
  if (!open_for("grow")) return;
  char text[112];
  if (new_size > max_size_) {
    std::snprintf(text, sizeof text, "(to %zu bytes: beyond max_size %zu)", new_size, max_size_);
    detail::throw_system_error(EINVAL, component, "grow", name_.c_str(), text);
  }
  if (const int e = grow_to(new_size); e != 0) {
    std::snprintf(text, sizeof text, "(to %zu bytes)", new_size);
    detail::throw_system_error(e, component, "grow", name_.c_str(), text);
  }
}

bool SharedMemory::try_grow(std::size_t new_size) noexcept {
  return open_for("try_grow") && new_size <= max_size_ && grow_to(new_size) == 0;
}

int SharedMemory::grow_to(std::size_t new_size) noexcept {
  std::uint64_t now = 0;
  const int e = os::grow_file(fd_, new_size, &now);
  if (e == 0) size_ = static_cast<std::size_t>(std::min<std::uint64_t>(now, max_size_));
  return e;
}

unsigned SharedMemory::permissions() const {
  if (!open_for("permissions")) return 0;
  unsigned mode = 0;
  if (const int e = os::file_mode(fd_, &mode); e != 0)
    detail::throw_system_error(e, component, "permissions", name_.c_str());
  return mode;
}

}  // namespace core::memory
