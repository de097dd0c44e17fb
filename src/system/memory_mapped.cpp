#include <core/memory/system/memory_mapped.hpp>

#include <core/memory/system/error.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/size_math.hpp>

#include <cerrno>
#include <cstdio>

namespace core::memory {

namespace {

namespace os = detail::os;

os::map_mode os_mode(MapMode m) noexcept {
  switch (m) {
    case MapMode::ReadOnly: return os::map_mode::read_only;
    case MapMode::ReadWrite: return os::map_mode::read_write;
    case MapMode::CopyOnWrite: return os::map_mode::copy_on_write;
  }
  return os::map_mode::read_only;
}

os::advice os_advice(MapAdvice a) noexcept {
  switch (a) {
    case MapAdvice::normal: return os::advice::normal;
    case MapAdvice::sequential: return os::advice::sequential;
    case MapAdvice::random: return os::advice::random;
    case MapAdvice::will_need: return os::advice::will_need;
    case MapAdvice::dont_need: return os::advice::dont_need;
    case MapAdvice::huge_page: return os::advice::huge_page;
  }
  return os::advice::normal;
}

std::size_t round_to_pages(std::size_t n) noexcept { return align_up(n, os::page_size()); }

/// "(offset 10, length 20 of 4096 bytes)"
struct RangeText {
  char text[112];
  RangeText(std::size_t offset, std::size_t length, std::size_t size) noexcept {
    std::snprintf(text, sizeof text, "(offset %zu, length %zu of %zu bytes)", offset, length, size);
  }
};

constexpr const char* anonymous_path = "<anonymous>";

}  // namespace

namespace detail {

MappedRegion::MappedRegion(MappedRegion&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      extent_(std::exchange(o.extent_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mode_(o.mode_),
      path_(std::move(o.path_)),
      component_(o.component_) {}

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    unmap();
    base_ = std::exchange(o.base_, nullptr);
    extent_ = std::exchange(o.extent_, 0);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mode_ = o.mode_;
    path_ = std::move(o.path_);
    component_ = o.component_;
  }
  return *this;
}

MappedRegion::~MappedRegion() { unmap(); }

void MappedRegion::unmap() noexcept {
  if (base_) (void)os::release(base_, extent_);
  base_ = data_ = nullptr;
  extent_ = size_ = 0;
}

void MappedRegion::fail(int error, const char* operation, const char* detail) const {
  throw_system_error(error, component_, operation, path_.c_str(), detail);
}

void MappedRegion::pages(const char* operation, std::size_t offset, std::size_t length, std::byte*& first,
                         std::size_t& bytes) const {
  if (offset > size_ || length > size_ - offset) fail(EINVAL, operation, RangeText(offset, length, size_).text);
  const std::size_t page = os::page_size();
  first = align_down(data_ + offset, page);
  bytes = length == 0 ? 0 : static_cast<std::size_t>(align_up(data_ + offset + length, page) - first);
}

void MappedRegion::check_object(std::size_t offset, std::size_t size, std::size_t align, std::size_t count) const {
  char text[160];
  std::size_t need = 0;
  const bool too_big = mul_overflows(size, count, need) || offset > size_ || need > size_ - offset;
  if (too_big) {
    std::snprintf(text, sizeof text, "(offset %zu: %zu objects of %zu bytes do not fit in %zu bytes)", offset,
                  count, size, size_);
    fail(EINVAL, "as", text);
  }
  if (!is_aligned(data_ + offset, align)) {
    std::snprintf(text, sizeof text, "(offset %zu is not aligned to %zu)", offset, align);
    fail(EINVAL, "as", text);
  }
}

void MappedRegion::flush(FlushMode how) { flush(0, size_, how); }

void MappedRegion::flush(std::size_t offset, std::size_t length, FlushMode how) {
  std::byte* first = nullptr;
  std::size_t bytes = 0;
  pages("flush", offset, length, first, bytes);
  if (bytes == 0) return;
  if (const int e = os::flush(first, bytes, how == FlushMode::sync); e != 0) fail(e, "flush");
}

void MappedRegion::advise(MapAdvice advice) { this->advise(0, size_, advice); }

void MappedRegion::advise(std::size_t offset, std::size_t length, MapAdvice advice) {
  std::byte* first = nullptr;
  std::size_t bytes = 0;
  pages("advise", offset, length, first, bytes);
  if (bytes == 0) return;
  if (const int e = os::advise(first, bytes, os_advice(advice)); e != 0) fail(e, "advise");
}

// The pages holding the data, not size_ rounded up from data_: a view's data() is inside its
// first page, and that length would reach into the next mapping (locking or unlocking its page).
void MappedRegion::lock_in_memory() {
  std::byte* first = nullptr;
  std::size_t bytes = 0;
  pages("lock_in_memory", 0, size_, first, bytes);
  if (bytes == 0) return;
  if (const int e = os::lock(first, bytes); e != 0) fail(e, "lock_in_memory");
}

void MappedRegion::unlock() {
  std::byte* first = nullptr;
  std::size_t bytes = 0;
  pages("unlock", 0, size_, first, bytes);
  if (bytes == 0) return;
  if (const int e = os::unlock(first, bytes); e != 0) fail(e, "unlock");
}

}  // namespace detail

// ---- MemoryMappedFile ------------------------------------------------------------------------

namespace {

MemoryMappedFile::Status failure(int error, const char* operation, const char* detail = nullptr) noexcept {
  MemoryMappedFile::Status s{error, operation, {}};
  if (detail) std::snprintf(s.detail, sizeof s.detail, "%s", detail);
  return s;
}

MemoryMappedFile::Status size_failure(int error, const char* operation, std::uint64_t size) noexcept {
  MemoryMappedFile::Status s{error, operation, {}};
  std::snprintf(s.detail, sizeof s.detail, "(%llu bytes)", static_cast<unsigned long long>(size));
  return s;
}

}  // namespace

MemoryMappedFile::MemoryMappedFile(const std::filesystem::path& path, Mode mode, Options options)
    : MemoryMappedFile() {
  path_ = path.string();
  mode_ = mode;
  raise(open_existing(options));
}

MemoryMappedFile MemoryMappedFile::create(const std::filesystem::path& path, std::size_t size, Options options) {
  MemoryMappedFile f;
  f.path_ = path.string();
  f.mode_ = Mode::ReadWrite;
  f.raise(f.create_new(size, options));
  return f;
}

MemoryMappedFile MemoryMappedFile::anonymous(std::size_t size, Options options) {
  MemoryMappedFile f;
  f.path_ = anonymous_path;
  f.mode_ = Mode::ReadWrite;
  f.raise(f.create_anonymous(size, options));
  return f;
}

MemoryMappedFile MemoryMappedFile::open(const std::filesystem::path& path, Mode mode, std::error_code& ec,
                                        Options options) noexcept {
  MemoryMappedFile f;
  f.path_ = path.string();
  f.mode_ = mode;
  ec = f.result(f.open_existing(options));
  return f;
}

MemoryMappedFile MemoryMappedFile::create(const std::filesystem::path& path, std::size_t size, std::error_code& ec,
                                          Options options) noexcept {
  MemoryMappedFile f;
  f.path_ = path.string();
  f.mode_ = Mode::ReadWrite;
  ec = f.result(f.create_new(size, options));
  return f;
}

MemoryMappedFile MemoryMappedFile::anonymous(std::size_t size, std::error_code& ec, Options options) noexcept {
  MemoryMappedFile f;
  f.path_ = anonymous_path;
  f.mode_ = Mode::ReadWrite;
  ec = f.result(f.create_anonymous(size, options));
  return f;
}

void MemoryMappedFile::raise(const Status& s) {
  if (s.error == 0) [[likely]]
    return;
  close();
  fail(s.error, s.operation, s.detail[0] ? s.detail : nullptr);
}

std::error_code MemoryMappedFile::result(const Status& s) noexcept {
  if (s.error == 0) return {};
  close();
  return {s.error, std::generic_category()};
}

MemoryMappedFile::Status MemoryMappedFile::open_existing(Options options) noexcept {
  int fd = -1;
  if (const int e = os::open_file(path_.c_str(), os_mode(mode_), os::disposition::open_existing, &fd); e != 0)
    return failure(e, "open", e == ENODEV ? "(not a regular file)" : nullptr);
  return map_file(fd, options);
}

MemoryMappedFile::Status MemoryMappedFile::create_new(std::size_t size, Options options) noexcept {
  if (size == 0) return failure(EINVAL, "create", "(size 0)");
  int fd = -1;
  if (const int e = os::open_file(path_.c_str(), os::map_mode::read_write, os::disposition::create_new, &fd); e != 0)
    return failure(e, "create");
  fd_ = fd;
  const int e = os::resize_file(fd, size);
  const Status s = e != 0 ? size_failure(e, "create", size) : map_file(fd, options);
  if (s.error != 0) {  // leave nothing behind: not the file either, whichever step failed
    close();
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  return s;
}

MemoryMappedFile::Status MemoryMappedFile::create_anonymous(std::size_t size, Options options) noexcept {
  if (size == 0) return failure(EINVAL, "create", "(size 0)");
  int fd = -1;
  if (const int e = os::create_anonymous_file(&fd); e != 0) return failure(e, "create");
  if (const int e = os::resize_file(fd, size); e != 0) {
    (void)os::close_file(fd);
    return size_failure(e, "create", size);
  }
  return map_file(fd, options);
}

MemoryMappedFile::Status MemoryMappedFile::map_file(int fd, Options options) noexcept {
  fd_ = fd;  // closed by the caller's close() on failure
  populate_ = options.populate;
  std::uint64_t file_bytes = 0;
  if (const int e = os::file_size(fd, &file_bytes); e != 0) return failure(e, "open");
  if (file_bytes == 0) return failure(EINVAL, "map", "(the file is empty)");
  constexpr std::size_t limit = static_cast<std::size_t>(PTRDIFF_MAX) / 2;
  if (file_bytes > limit) return size_failure(ENOMEM, "map", file_bytes);
  const auto size = static_cast<std::size_t>(file_bytes);
  const std::size_t mapped = round_to_pages(size);
  std::size_t extent = mapped;
  void* at = nullptr;
  if (mode_ == Mode::ReadWrite && options.reserve > mapped && options.reserve <= limit) {
    extent = round_to_pages(options.reserve);
    if (const int e = os::reserve(extent, os::page_size(), &at); e != 0) return size_failure(e, "map", file_bytes);
  }
  void* p = nullptr;
  if (const int e = os::map(fd, 0, mapped, os_mode(mode_), populate_, at, &p); e != 0) {
    if (at) (void)os::release(at, extent);
    return size_failure(e, "map", file_bytes);
  }
  base_ = data_ = static_cast<std::byte*>(p);
  extent_ = extent;
  size_ = size;
  return {};
}

MemoryMappedFile::MemoryMappedFile(MemoryMappedFile&& o) noexcept
    : MappedRegion(std::move(o)), fd_(std::exchange(o.fd_, -1)), populate_(o.populate_) {}

MemoryMappedFile& MemoryMappedFile::operator=(MemoryMappedFile&& o) noexcept {
  if (this != &o) {
    close();
    MappedRegion::operator=(std::move(o));
    fd_ = std::exchange(o.fd_, -1);
    populate_ = o.populate_;
  }
  return *this;
}

MemoryMappedFile::~MemoryMappedFile() { close(); }

void MemoryMappedFile::close() noexcept {
  unmap();
  if (fd_ >= 0) (void)os::close_file(fd_);
  fd_ = -1;
}

void MemoryMappedFile::resize(std::size_t new_size) {
  char text[64];
  std::snprintf(text, sizeof text, "(to %zu bytes)", new_size);
  if (mode_ != Mode::ReadWrite || fd_ < 0) fail(EPERM, "resize", text);
  if (new_size == 0) fail(EINVAL, "resize", text);
  if (new_size > static_cast<std::size_t>(PTRDIFF_MAX) / 2) fail(ENOMEM, "resize", text);
  const std::size_t old_pages = round_to_pages(size_), new_pages = round_to_pages(new_size);
  if (new_pages > extent_) {
    // Beyond the reservation: map the grown file anew, then let the old mapping go.
    if (const int e = os::resize_file(fd_, new_size); e != 0) fail(e, "resize", text);
    void* p = nullptr;
    if (const int e = os::map(fd_, 0, new_pages, os::map_mode::read_write, populate_, nullptr, &p); e != 0) {
      (void)os::resize_file(fd_, size_);
      fail(e, "resize", text);
    }
    (void)os::release(base_, extent_);
    base_ = data_ = static_cast<std::byte*>(p);
    extent_ = new_pages;
  } else if (new_pages > old_pages) {
    // Inside the reservation: map the new pages right after the old ones.
    if (const int e = os::resize_file(fd_, new_size); e != 0) fail(e, "resize", text);
    void* p = nullptr;
    if (const int e = os::map(fd_, old_pages, new_pages - old_pages, os::map_mode::read_write, populate_,
                              base_ + old_pages, &p);
        e != 0) {
      (void)os::resize_file(fd_, size_);
      fail(e, "resize", text);
    }
  } else {
    // Shrinking: the pages past the end go back to being reserved before the file is cut.
    if (new_pages < old_pages) {
      if (const int e = os::decommit(base_ + new_pages, old_pages - new_pages); e != 0) fail(e, "resize", text);
    }
    if (const int e = os::resize_file(fd_, new_size); e != 0) {
      if (new_pages < old_pages) {
        void* p = nullptr;  // put the pages back as they were
        (void)os::map(fd_, new_pages, old_pages - new_pages, os::map_mode::read_write, false, base_ + new_pages, &p);
      }
      fail(e, "resize", text);
    }
  }
  size_ = new_size;
}

MemoryMappedView MemoryMappedFile::create_view(std::size_t offset, std::size_t length) const {
  if (length == 0 || offset > size_ || length > size_ - offset)
    fail(EINVAL, "create_view", RangeText(offset, length, size_).text);
  MemoryMappedView v;
  v.path_ = path_;
  v.mode_ = mode_;
  const std::size_t start = align_down(offset, os::page_size());
  const std::size_t extent = round_to_pages(offset + length - start);
  void* p = nullptr;
  if (const int e = os::map(fd_, start, extent, os_mode(mode_), populate_, nullptr, &p); e != 0)
    fail(e, "create_view", RangeText(offset, length, size_).text);
  v.base_ = static_cast<std::byte*>(p);
  v.extent_ = extent;
  v.data_ = v.base_ + (offset - start);
  v.size_ = length;
  v.offset_ = offset;
  return v;
}

}  // namespace core::memory
