// aw::pg::testing::temporary_cluster: initdb, pg_ctl start, and on exit stop and remove.
#include <aw/pg/errors.hpp>
#include <aw/pg/testing.hpp>
#include <aw/process.hpp>

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace aw::pg::testing {

namespace {

std::string newest_bin_dir() {
  int best = -1;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string v = e.path().filename().string();
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::filesystem::exists(e.path() / "bin" / "initdb") && std::stoi(v) > best) best = std::stoi(v);
  }
  if (best < 0)
    throw std::runtime_error(
        "aw::pg::testing::temporary_cluster: no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)");
  return "/usr/lib/postgresql/" + std::to_string(best) + "/bin";
}

// As root, commands run as the postgres user.
std::vector<std::string> as_server_user(std::vector<std::string> argv) {
  if (::geteuid() != 0) return argv;
  std::vector<std::string> v{"runuser", "-u", "postgres", "--"};
  v.insert(v.end(), argv.begin(), argv.end());
  return v;
}

task<> run(std::vector<std::string> argv) {
  run_process_options o;
  o.check = false;
  completed_process r = co_await run_process(as_server_user(argv), o);
  if (r.returncode != 0)
    throw std::runtime_error("aw::pg::testing::temporary_cluster: " + argv[0] + " failed (status " + std::to_string(r.returncode) + "):\n" +
                             r.stdout + r.stderr);
}

}  // namespace

task<temporary_cluster&> temporary_cluster::aenter() {
  enter_check_.entered();
  if (!dir_.empty()) throw interface_error("aw::pg::testing::temporary_cluster: entered twice");
  bin_ = newest_bin_dir();
  std::string tmpl = "/tmp/aw-pg-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "aw::pg::testing::temporary_cluster: mkdtemp");
  dir_ = tmpl;
  std::exception_ptr failure;
  try {
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (!pw) throw std::runtime_error("aw::pg::testing::temporary_cluster: running as root needs the postgres user");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw std::system_error(errno, std::generic_category(), "aw::pg::testing::temporary_cluster: chown");
    }
    // Named vectors, not braced lists inside co_await: g++ 12 cannot put an initializer
    // list's array in a coroutine frame ("array used as initializer").
    std::vector<std::string> initdb{bin_ + "/initdb", "-D",        dir_ + "/data", "-U",   "postgres",        "-A",
                                    "trust",          "--no-sync", "-E",           "UTF8", "--locale=C.UTF-8"};
    co_await run(std::move(initdb));
    {
      std::ofstream conf(dir_ + "/data/postgresql.conf", std::ios::app);
      conf << "listen_addresses = ''\nunix_socket_directories = '" << dir_ << "'\nfsync = off\nsynchronous_commit = off\n"
           << "full_page_writes = off\n";
    }
    std::vector<std::string> start{bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "60", "start"};
    co_await run(std::move(start));
    started_ = true;
    dsn_ = "host=" + dir_ + " user=postgres dbname=postgres";
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    co_await stop_and_remove();
    std::rethrow_exception(failure);
  }
  co_return *this;
}

task<> temporary_cluster::stop_and_remove() {
  if (started_) {
    started_ = false;
    std::exception_ptr ignored;
    try {
      std::vector<std::string> stop{bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "-t", "60", "stop"};
      co_await run(std::move(stop));
    } catch (...) {
      ignored = std::current_exception();  // removing the directory matters more
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

task<> temporary_cluster::aexit(std::exception_ptr) { co_await stop_and_remove(); }

}  // namespace aw::pg::testing
