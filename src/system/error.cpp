#include <core/memory/system/error.hpp>
#include <core/memory/util/error.hpp>

#include <string>
#include <system_error>

namespace core::memory::detail {

void throw_system_error(int error, const char* component, const char* operation, const char* path,
                        const char* detail) {
  if (!component) component = "core::memory";
  std::string text = component;
  text += ": ";
  [[maybe_unused]] const std::size_t message_start = text.size();
  text += operation;
  if (path) {
    text += " '";
    text += path;
    text += '\'';
  }
  if (detail) {
    text += ' ';
    text += detail;
  }
#if defined(__cpp_exceptions)
  throw std::system_error(std::error_code(error, std::generic_category()), text);
#else
  text += ": ";
  text += std::generic_category().message(error);
  fatal_error({error_kind::system_error, component, nullptr, 0, 0, text.c_str() + message_start,
               nullptr, 0});
#endif
}

}  // namespace core::memory::detail
