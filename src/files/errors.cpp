// aw::files' errors: errno, the operation and the paths, as Python's OSError carries them.
#include <aw/files/errors.hpp>

#include <cerrno>
#include <utility>

namespace aw::files {
namespace {

std::string message(const std::string& operation, const std::filesystem::path& path, const std::filesystem::path& path2) {
  std::string m = operation + " '" + path.string() + "'";
  if (!path2.empty()) m += " -> '" + path2.string() + "'";
  return m;
}

}  // namespace

os_error::os_error(int err, std::string operation, std::filesystem::path path, std::filesystem::path path2)
    : error(std::error_code(err, std::generic_category()), message(operation, path, path2) + ": " + std::generic_category().message(err)),
      operation_(std::move(operation)),
      path_(std::move(path)),
      path2_(std::move(path2)) {}

void raise_os_error(int err, std::string operation, const std::filesystem::path& path, const std::filesystem::path& path2) {
  switch (err) {
    case ENOENT:
      throw file_not_found_error(err, std::move(operation), path, path2);
    case EEXIST:
      throw file_exists_error(err, std::move(operation), path, path2);
    case EACCES:
    case EPERM:
      throw permission_error(err, std::move(operation), path, path2);
    case EISDIR:
      throw is_a_directory_error(err, std::move(operation), path, path2);
    case ENOTDIR:
      throw not_a_directory_error(err, std::move(operation), path, path2);
    default:
      throw os_error(err, std::move(operation), path, path2);
  }
}

}  // namespace aw::files
