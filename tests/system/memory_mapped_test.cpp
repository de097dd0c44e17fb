#include <core/memory/system/memory_mapped.hpp>
#include <core/memory/util/align.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "support/address_space.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;
namespace os = core::memory::detail::os;
using Mode = cm::MemoryMappedFile::Mode;

namespace {

/// Writes `bytes` bytes of a known pattern to a new file.
std::string pattern(std::size_t bytes) {
  std::string s(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

void write_file(const std::filesystem::path& p, const std::string& contents) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string text(const cm::detail::MappedRegion& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

/// Runs `child` in a forked process and returns its exit status (or 128 + signal).
template <class F>
int in_child(F child) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(child());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const std::string component = "core::memory::MemoryMappedFile: ";

}  // namespace

// ---- modes -----------------------------------------------------------------------------------

TEST(MemoryMappedFile, ReadOnlyMapsTheWholeFile) {
  test::TempDir dir;
  const auto path = dir / "data";
  const std::string contents = pattern(3 * 4096 + 123);
  write_file(path, contents);
  cm::MemoryMappedFile f(path, Mode::ReadOnly);
  EXPECT_EQ(f.size(), contents.size());
  EXPECT_EQ(f.mode(), Mode::ReadOnly);
  EXPECT_EQ(f.path(), path.string());
  EXPECT_EQ(text(f), contents);
  EXPECT_TRUE(cm::is_aligned(f.data(), cm::detail::os::page_size()));
}

TEST(MemoryMappedFile, ReadWriteFlushReachesTheFileAndOtherProcesses) {
  test::TempDir dir;
  const auto path = dir / "data";
  write_file(path, pattern(10000));
  cm::MemoryMappedFile f(path, Mode::ReadWrite);
  auto* bytes = static_cast<char*>(f.data());
  std::memcpy(bytes + 5000, "hello", 5);
  f.flush(5000, 5);
  // A new process reading the file with read(2) sees it.
  EXPECT_EQ(in_child([&] { return read_file(path).substr(5000, 5) == "hello" ? 0 : 1; }), 0);
  // A new process writing through its own ReadWrite mapping: this mapping sees it.
  EXPECT_EQ(in_child([&] {
              cm::MemoryMappedFile g(path, Mode::ReadWrite);
              std::memcpy(static_cast<char*>(g.data()) + 9000, "child", 5);
              g.flush(cm::FlushMode::async);
              return 0;
            }),
            0);
  EXPECT_EQ(std::string(bytes + 9000, 5), "child");
  f.flush();
  EXPECT_EQ(read_file(path).substr(9000, 5), "child");
}

TEST(MemoryMappedFile, CopyOnWriteWritesStayPrivate) {
  test::TempDir dir;
  const auto path = dir / "data";
  const std::string contents = pattern(8192 + 17);
  write_file(path, contents);
  cm::MemoryMappedFile cow(path, Mode::CopyOnWrite);
  cm::MemoryMappedFile other(path, Mode::ReadOnly);
  cm::MemoryMappedView view = cow.create_view(4000, 300);
  std::memcpy(static_cast<char*>(cow.data()) + 4096, "private", 7);
  cow.flush();  // no effect on the file
  EXPECT_EQ(std::string(static_cast<char*>(cow.data()) + 4096, 7), "private");
  EXPECT_EQ(read_file(path), contents);
  EXPECT_EQ(text(other), contents);
  EXPECT_EQ(text(view), contents.substr(4000, 300));
  EXPECT_EQ(in_child([&] {
              cm::MemoryMappedFile g(path, Mode::ReadOnly);
              return text(g) == contents ? 0 : 1;
            }),
            0);
}

TEST(MemoryMappedFile, AnonymousMemoryIsZeroedSharedWithChildrenAndResizable) {
  cm::MemoryMappedFile a = cm::MemoryMappedFile::anonymous(5000, {.reserve = 1 << 20});
  EXPECT_EQ(a.path(), "<anonymous>");
  EXPECT_EQ(a.mode(), Mode::ReadWrite);
  for (std::byte b : a.bytes()) ASSERT_EQ(b, std::byte{0});
  EXPECT_EQ(in_child([&] {
              std::memcpy(a.data(), "from child", 10);
              return 0;
            }),
            0);
  EXPECT_EQ(std::string(static_cast<char*>(a.data()), 10), "from child");
  void* before = a.data();
  a.resize(100000);
  EXPECT_EQ(a.data(), before);
  EXPECT_EQ(std::string(static_cast<char*>(a.data()), 10), "from child");
  EXPECT_EQ(static_cast<char*>(a.data())[99999], 0);
  cm::MemoryMappedView v = a.create_view(99990, 10);
  static_cast<char*>(v.data())[9] = 'z';
  EXPECT_EQ(static_cast<char*>(a.data())[99999], 'z');
}

// ---- views -----------------------------------------------------------------------------------

TEST(MemoryMappedView, AnyOffsetShowsTheFileAndOutlivesIt) {
  test::TempDir dir;
  const auto path = dir / "data";
  const std::string contents = pattern(5 * 4096 + 999);
  write_file(path, contents);
  std::vector<cm::MemoryMappedView> views;
  {
    cm::MemoryMappedFile f(path, Mode::ReadWrite);
    for (std::size_t offset : {0u, 1u, 4095u, 4096u, 4097u, 10000u, 5u * 4096u + 998u}) {
      for (std::size_t length : {1u, 100u, 4096u, 9000u}) {
        if (offset + length > contents.size()) continue;
        cm::MemoryMappedView v = f.create_view(offset, length);
        EXPECT_EQ(v.offset(), offset);
        EXPECT_EQ(v.size(), length);
        EXPECT_EQ(text(v), contents.substr(offset, length)) << offset << " " << length;
        views.push_back(std::move(v));
      }
    }
    // ReadWrite views share the file's pages both ways.
    static_cast<char*>(f.data())[4097] = '!';
    EXPECT_EQ(static_cast<char*>(views[16].data())[0], '!');
    static_cast<char*>(views[1].data())[50] = '?';
    EXPECT_EQ(static_cast<char*>(f.data())[50], '?');
  }
  ASSERT_EQ(views[16].offset(), 4097u);
  ASSERT_EQ(views[1].offset(), 0u);
  ASSERT_EQ(views[1].size(), 100u);
  // The file object is gone; the views still map the file.
  EXPECT_EQ(static_cast<char*>(views[16].data())[0], '!');
  cm::MemoryMappedView moved = std::move(views[16]);
  EXPECT_FALSE(views[16]);
  EXPECT_EQ(static_cast<char*>(moved.data())[0], '!');
  moved.flush();
}

// ---- resize ----------------------------------------------------------------------------------

TEST(MemoryMappedFile, ResizeWithinTheReservationKeepsAddresses) {
  test::TempDir dir;
  const auto path = dir / "grow";
  cm::MemoryMappedFile f = cm::MemoryMappedFile::create(path, 100, {.reserve = 64 << 20});
  EXPECT_EQ(f.capacity(), std::size_t{64} << 20);
  auto* first = static_cast<char*>(f.data());
  std::memcpy(first, "keep", 4);
  for (std::size_t n : {std::size_t{4096}, std::size_t{4097}, std::size_t{1} << 20, std::size_t{3} << 20,
                        std::size_t{64} << 20}) {
    f.resize(n);
    ASSERT_EQ(f.data(), first);
    EXPECT_EQ(f.size(), n);
    EXPECT_EQ(std::filesystem::file_size(path), n);
    EXPECT_EQ(std::string(first, 4), "keep");
    EXPECT_EQ(first[n - 1], 0);  // new bytes are zero
    first[n - 1] = 'x';          // and writable up to the end
  }
  f.resize(5000);  // shrinking keeps the address too
  EXPECT_EQ(f.data(), first);
  EXPECT_EQ(std::filesystem::file_size(path), 5000u);
  f.flush();
  EXPECT_EQ(read_file(path).substr(4096, 2), std::string("x\0", 2));  // byte 4096 was the end at 4097
  // Beyond the reservation the file is mapped anew and its contents follow.
  f.resize((64 << 20) + 1);
  EXPECT_EQ(std::string(static_cast<char*>(f.data()), 4), "keep");
  EXPECT_GE(f.capacity(), std::size_t{64} << 20);
}

TEST(MemoryMappedFileDeathTest, ShrinkingLeavesTheDroppedPagesInaccessible) {
  test::TempDir dir;
  cm::MemoryMappedFile f = cm::MemoryMappedFile::create(dir / "shrink", 5 * 4096, {.reserve = 1 << 20});
  auto* p = static_cast<char*>(f.data());
  f.resize(4096);
  EXPECT_DEATH((test::report_faults(p), test::touch(p + 4096)), test::fault_at(4096));
}

TEST(MemoryMappedFile, ResizeWithoutReservationMovesButKeepsContents) {
  test::TempDir dir;
  cm::MemoryMappedFile f = cm::MemoryMappedFile::create(dir / "grow", 10);
  EXPECT_EQ(f.capacity(), os::page_size());
  std::memcpy(f.data(), "0123456789", 10);
  f.resize(1 << 20);
  EXPECT_EQ(std::string(static_cast<char*>(f.data()), 10), "0123456789");
  EXPECT_EQ(f.capacity(), std::size_t{1} << 20);
}

// ---- advice, locking, populate ---------------------------------------------------------------

TEST(MemoryMappedFile, AdviceLockAndPopulate) {
  test::TempDir dir;
  const auto path = dir / "data";
  write_file(path, pattern(64 * 4096));
  cm::MemoryMappedFile f(path, Mode::ReadOnly, {.populate = true});
  os::page_report r;
  ASSERT_EQ(os::query_pages(f.data(), &r), 0);
  EXPECT_EQ(r.resident, 64 * os::page_size());  // prefaulted
  for (auto a : {cm::MapAdvice::sequential, cm::MapAdvice::random, cm::MapAdvice::will_need,
                 cm::MapAdvice::huge_page, cm::MapAdvice::dont_need, cm::MapAdvice::normal})
    f.advise(a);
  f.advise_sequential();
  f.advise_random();
  f.advise(100, 5000, cm::MapAdvice::will_need);
  EXPECT_EQ(text(f), pattern(64 * 4096));  // dont_need on a file mapping reads the file again
  f.lock_in_memory();
  ASSERT_EQ(os::query_pages(f.data(), &r), 0);
  EXPECT_TRUE(r.locked);
  f.unlock();
  ASSERT_EQ(os::query_pages(f.data(), &r), 0);
  EXPECT_FALSE(r.locked);
}

TEST(MemoryMappedView, LockingAViewAtAnyOffsetLocksItsPagesOnly) {
  // A view's data() is inside its first page: locking must cover the pages holding the view,
  // neither fail past the end of its mapping (ENOMEM) nor lock the next mapping's page.
  test::TempDir dir;
  const auto path = dir / "data";
  write_file(path, pattern(4 * 4096));
  cm::MemoryMappedFile f(path, Mode::ReadOnly);
  const std::size_t page = os::page_size();
  for (std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{100}, page - 1, page + 7}) {
    for (std::size_t length : {std::size_t{1}, std::size_t{100}, page}) {
      cm::MemoryMappedView v = f.create_view(offset, length);
      v.lock_in_memory();
      os::page_report r;
      ASSERT_EQ(os::query_pages(v.data(), &r), 0);
      EXPECT_TRUE(r.locked) << offset << " " << length;
      const auto* end = static_cast<const std::byte*>(v.data()) + length;
      const std::byte* next = cm::align_up(end, page);  // the first page after the view's mapping
      if (os::query_pages(next, &r) == 0) {
        EXPECT_FALSE(r.locked) << "locked a page of another mapping";
      }
      v.unlock();
    }
  }
}

// ---- typed access ----------------------------------------------------------------------------

namespace {
struct Header {
  std::uint32_t magic;
  std::uint32_t count;
  std::uint64_t offset;
};
}  // namespace

TEST(MemoryMappedFile, TypedAccessChecksSizeAndAlignment) {
  test::TempDir dir;
  const auto path = dir / "typed";
  cm::MemoryMappedFile f = cm::MemoryMappedFile::create(path, 100);
  Header* h = f.as<Header>();
  h->magic = 0xC0DE;
  EXPECT_EQ(f.as<Header>(16)->magic, 0u);
  EXPECT_EQ(f.as_span<std::uint64_t>().size(), 12u);  // 96 of the 100 bytes
  EXPECT_EQ(f.as_span<std::uint32_t>(4).size(), 24u);
  EXPECT_EQ(f.as_span<std::uint32_t>(8, 23).size(), 23u);
  EXPECT_EQ(f.as_span<char>(100).size(), 0u);
  const cm::MemoryMappedFile& cf = f;
  EXPECT_EQ(cf.as<Header>()->magic, 0xC0DEu);
  EXPECT_EQ(cf.as_span<const std::uint32_t>()[0], 0xC0DEu);
  const std::string at = component + "as '" + path.string() + "' ";
  EXPECT_SYSTEM_ERROR((void)f.as<Header>(85), EINVAL,
                      at + "(offset 85: 1 objects of 16 bytes do not fit in 100 bytes)");
  EXPECT_SYSTEM_ERROR((void)f.as<Header>(4), EINVAL, at + "(offset 4 is not aligned to 8)");
  EXPECT_SYSTEM_ERROR((void)f.as_span<std::uint32_t>(2), EINVAL, at + "(offset 2 is not aligned to 4)");
  EXPECT_SYSTEM_ERROR((void)f.as_span<char>(101), EINVAL,
                      at + "(offset 101: 0 objects of 0 bytes do not fit in 100 bytes)");
  EXPECT_SYSTEM_ERROR((void)f.as_span<std::uint32_t>(8, 24), EINVAL,
                      at + "(offset 8: 24 objects of 4 bytes do not fit in 100 bytes)");
  EXPECT_SYSTEM_ERROR((void)f.as_span<std::uint32_t>(0, SIZE_MAX / 2), EINVAL,
                      at + "(offset 0: " + std::to_string(SIZE_MAX / 2) + " objects of 4 bytes do not fit in 100 bytes)");
}

TEST(MemoryMappedFile, MoveOnlyOwnership) {
  static_assert(!std::is_copy_constructible_v<cm::MemoryMappedFile>);
  static_assert(!std::is_copy_assignable_v<cm::MemoryMappedView>);
  static_assert(std::is_nothrow_move_constructible_v<cm::MemoryMappedFile>);
  test::TempDir dir;
  write_file(dir / "a", "aaaa");
  write_file(dir / "b", "bbbb");
  cm::MemoryMappedFile a(dir / "a", Mode::ReadOnly), b(dir / "b", Mode::ReadOnly);
  void* pa = a.data();
  b = std::move(a);
  EXPECT_EQ(b.data(), pa);
  EXPECT_EQ(text(b), "aaaa");
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  cm::MemoryMappedFile c(std::move(b));
  EXPECT_EQ(text(c), "aaaa");
  c.close();
  EXPECT_FALSE(c);
  EXPECT_EQ(c.size(), 0u);
}

// ---- every error path, with its message -------------------------------------------------------

TEST(MemoryMappedFileErrors, OpenCreateAndMap) {
  test::TempDir dir;
  const std::string d = dir.path().string();
  EXPECT_SYSTEM_ERROR(cm::MemoryMappedFile(dir / "missing", Mode::ReadOnly), ENOENT,
                      component + "open '" + d + "/missing'");
  EXPECT_SYSTEM_ERROR(cm::MemoryMappedFile(dir.path(), Mode::ReadOnly), EISDIR, component + "open '" + d + "'");
  write_file(dir / "empty", "");
  for (Mode m : {Mode::ReadOnly, Mode::ReadWrite, Mode::CopyOnWrite})
    EXPECT_SYSTEM_ERROR(cm::MemoryMappedFile(dir / "empty", m), EINVAL,
                        component + "map '" + d + "/empty' (the file is empty)");
  write_file(dir / "exists", "x");
  EXPECT_SYSTEM_ERROR((void)cm::MemoryMappedFile::create(dir / "exists", 10), EEXIST,
                      component + "create '" + d + "/exists'");
  EXPECT_SYSTEM_ERROR((void)cm::MemoryMappedFile::create(dir / "zero", 0), EINVAL,
                      component + "create '" + d + "/zero' (size 0)");
  EXPECT_FALSE(std::filesystem::exists(dir / "zero"));
  EXPECT_SYSTEM_ERROR((void)cm::MemoryMappedFile::create(dir / "no-dir" / "x", 10), ENOENT,
                      component + "create '" + d + "/no-dir/x'");
  EXPECT_SYSTEM_ERROR((void)cm::MemoryMappedFile::anonymous(std::size_t{1} << 50), ENOMEM,
                      component + "map '<anonymous>' (1125899906842624 bytes)");
  EXPECT_SYSTEM_ERROR((void)cm::MemoryMappedFile::anonymous(0), EINVAL, component + "create '<anonymous>' (size 0)");
}

TEST(MemoryMappedFileErrorsDeathTest, FilesThatAreNotRegularAreRefusedAtOnce) {
  // A FIFO opened for reading blocks until a writer comes: the open must not wait for one.
  test::TempDir dir;
  const auto fifo = dir / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (Mode m : {Mode::ReadOnly, Mode::ReadWrite, Mode::CopyOnWrite}) {
    EXPECT_EXIT(
        {
          alarm(10);
          std::error_code ec;
          const cm::MemoryMappedFile f = cm::MemoryMappedFile::open(fifo, m, ec);
          std::fprintf(stderr, "error %d", ec.value());
          std::_Exit(ec.value() == ENODEV && !f ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "error");
  }
  // A device: ENODEV, whatever errno held before.
  errno = ENOENT;
  std::error_code ec;
  const cm::MemoryMappedFile null = cm::MemoryMappedFile::open("/dev/null", Mode::ReadOnly, ec);
  EXPECT_EQ(ec.value(), ENODEV) << ec.message();
  // The message says what the path is, not only the errno's text ("No such device").
  EXPECT_SYSTEM_ERROR(cm::MemoryMappedFile("/dev/null", Mode::ReadOnly), ENODEV,
                      component + "open '/dev/null' (not a regular file)");
}

TEST(MemoryMappedFileErrors, CreateLeavesNoFileWhenTheMappingFails) {
  // The file is made and sized before it is mapped: a failure to map must remove it too, so
  // that nothing is left behind and the same create can be tried again.
  test::TempDir dir;
  const auto path = dir / "unmappable";
  EXPECT_EQ(in_child([&] {
              test::use_up_address_space();
              std::error_code ec;
              const cm::MemoryMappedFile f = cm::MemoryMappedFile::create(path, 1 << 20, ec);
              if (ec.value() != ENOMEM || f) return 1;
              if (std::filesystem::exists(path)) return 2;
              // The reservation fails first here (no exception: it would need memory).
              const cm::MemoryMappedFile g =
                  cm::MemoryMappedFile::create(path, 1 << 20, ec, {.reserve = std::size_t{1} << 30});
              if (ec.value() != ENOMEM || g) return 3;
              return std::filesystem::exists(path) ? 4 : 0;
            }),
            0);
  const cm::MemoryMappedFile f = cm::MemoryMappedFile::create(path, 1 << 20);  // a retry succeeds
  EXPECT_EQ(f.size(), std::size_t{1} << 20);
}

TEST(MemoryMappedFileErrors, PermissionDenied) {
  test::TempDir dir;
  const auto path = dir / "secret";
  write_file(path, "secret");
  ::chmod(path.c_str(), 0);
  const std::string expected = test::regex_escape(component + "open '" + path.string() + "': Permission denied");
  // root passes permission checks: drop to nobody in a child.
  auto attempt = [&] {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
#if CORE_MEMORY_EXCEPTIONS
    try {
      cm::MemoryMappedFile f(path, Mode::ReadOnly);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      ::_exit(e.code().value() == EACCES ? 0 : 1);
    }
    ::_exit(1);
#else
    cm::MemoryMappedFile f(path, Mode::ReadOnly);
#endif
  };
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_EXIT(attempt(), testing::ExitedWithCode(0), expected);
#else
  EXPECT_DEATH(attempt(), "system error in " + expected);
#endif
}

TEST(MemoryMappedFileErrors, ViewsRangesAndModes) {
  test::TempDir dir;
  const auto path = dir / "data";
  write_file(path, pattern(10000));
  cm::MemoryMappedFile f(path, Mode::ReadOnly);
  const std::string p = test::cat("'", path.string(), "'");
  EXPECT_SYSTEM_ERROR((void)f.create_view(9000, 1001), EINVAL,
                      component + "create_view " + p + " (offset 9000, length 1001 of 10000 bytes)");
  EXPECT_SYSTEM_ERROR((void)f.create_view(10001, 0), EINVAL,
                      component + "create_view " + p + " (offset 10001, length 0 of 10000 bytes)");
  EXPECT_SYSTEM_ERROR((void)f.create_view(0, 0), EINVAL,
                      component + "create_view " + p + " (offset 0, length 0 of 10000 bytes)");
  EXPECT_SYSTEM_ERROR((void)f.create_view(SIZE_MAX, 2), EINVAL,
                      test::cat(component, "create_view ", p, " (offset ", std::to_string(SIZE_MAX),
                                ", length 2 of 10000 bytes)"));
  EXPECT_SYSTEM_ERROR(f.flush(5000, 5001), EINVAL,
                      component + "flush " + p + " (offset 5000, length 5001 of 10000 bytes)");
  EXPECT_SYSTEM_ERROR(f.advise(10001, 0, cm::MapAdvice::random), EINVAL,
                      component + "advise " + p + " (offset 10001, length 0 of 10000 bytes)");
  EXPECT_SYSTEM_ERROR(f.resize(20000), EPERM, component + "resize " + p + " (to 20000 bytes)");
  cm::MemoryMappedView v = f.create_view(5000, 10);
  EXPECT_SYSTEM_ERROR(v.flush(5, 6), EINVAL,
                      "core::memory::MemoryMappedView: flush " + p + " (offset 5, length 6 of 10 bytes)");
  cm::MemoryMappedFile rw = cm::MemoryMappedFile::create(dir / "rw", 10);
  const std::string q = test::cat("'", (dir / "rw").string(), "'");
  EXPECT_SYSTEM_ERROR(rw.resize(0), EINVAL, component + "resize " + q + " (to 0 bytes)");
  EXPECT_SYSTEM_ERROR(rw.resize(SIZE_MAX), ENOMEM,
                      test::cat(component, "resize ", q, " (to ", std::to_string(SIZE_MAX), " bytes)"));
  EXPECT_EQ(rw.size(), 10u);  // failed resizes changed nothing
  EXPECT_EQ(std::filesystem::file_size(dir / "rw"), 10u);
}

// The error_code forms: the same failures, reported without throwing or aborting (in every build).
TEST(MemoryMappedFileErrors, ErrorCodeFormsReportWithoutThrowing) {
  test::TempDir dir;
  std::error_code ec = std::make_error_code(std::errc::io_error);
  cm::MemoryMappedFile f = cm::MemoryMappedFile::create(dir / "new", 10, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(f.size(), 10u);
  cm::MemoryMappedFile g = cm::MemoryMappedFile::create(dir / "new", 10, ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  EXPECT_FALSE(g);
  EXPECT_EQ(std::filesystem::file_size(dir / "new"), 10u);  // the existing file is untouched
  g = cm::MemoryMappedFile::open(dir / "missing", Mode::ReadOnly, ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_FALSE(g);
  write_file(dir / "empty", "");
  g = cm::MemoryMappedFile::open(dir / "empty", Mode::CopyOnWrite, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  g = cm::MemoryMappedFile::open(dir / "new", Mode::ReadOnly, ec, {.populate = true});
  EXPECT_FALSE(ec);
  EXPECT_EQ(g.size(), 10u);
  g = cm::MemoryMappedFile::anonymous(0, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  g = cm::MemoryMappedFile::anonymous(std::size_t{1} << 50, ec);
  EXPECT_EQ(ec, std::errc::not_enough_memory);
  g = cm::MemoryMappedFile::anonymous(100, ec, {.reserve = 1 << 20});
  EXPECT_FALSE(ec);
  EXPECT_EQ(g.capacity(), std::size_t{1} << 20);
  g = cm::MemoryMappedFile::create(dir / "none" / "x", 10, ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}
