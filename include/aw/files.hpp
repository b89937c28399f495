// aw::files: aiofiles for asyncwith. `#include <aw/files.hpp>` and link aw::files.
//
//   co_await aw::async_with(aw::files::open("file.txt"), [](aw::files::file& f) -> aw::task<> {
//     std::string contents = co_await f.read();
//   });
//
// open (file.hpp), tempfile / named_temporary_file / temporary_directory (tempfile.hpp),
// aw::files::os (os.hpp), the errors (errors.hpp) and stat_result (stat.hpp).
#pragma once

#include <aw/files/errors.hpp>
#include <aw/files/file.hpp>
#include <aw/files/os.hpp>
#include <aw/files/stat.hpp>
#include <aw/files/tempfile.hpp>
