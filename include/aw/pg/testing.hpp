// aw::pg::testing::temporary_cluster: a throwaway PostgreSQL server for tests and demos.
//
//   co_await aw::async_with(aw::pg::testing::temporary_cluster(), [&](auto& cluster) -> aw::task<> {
//     co_await aw::async_with(aw::pg::connect(cluster.dsn()), [&](aw::pg::connection& conn) -> aw::task<> { ... });
//   });
//
// Entering creates a cluster in a new directory under /tmp (initdb), starts it (pg_ctl)
// listening only on a unix socket in that directory, with trust authentication for the
// user "postgres"; leaving stops it (fast shutdown) and removes the directory, on every
// path. Needs Debian's postgresql package (the newest /usr/lib/postgresql/*/bin is used).
// Run as root, the server runs as the postgres user, as initdb refuses root. The commands
// run through aw::run_process, so the loop keeps running meanwhile (initdb takes a second
// or two).
#pragma once

#include <aw/task.hpp>

#include <exception>
#include <string>

namespace aw::pg::testing {

class [[nodiscard("enter it: co_await aw::async_with(temporary_cluster{}, body); no server starts until then")]] temporary_cluster {
 public:
  [[nodiscard("enter it: co_await aw::async_with(temporary_cluster{}, body); no server starts until then")]] temporary_cluster() = default;
  temporary_cluster(temporary_cluster&&) = default;  // before it is entered
  temporary_cluster& operator=(temporary_cluster&&) = delete;

  task<temporary_cluster&> aenter();
  task<> aexit(std::exception_ptr);

  // A key=value connection string for the cluster's database "postgres" as user "postgres".
  const std::string& dsn() const noexcept { return dsn_; }
  // The cluster's directory (data in data/, the server log in server.log, the socket).
  const std::string& directory() const noexcept { return dir_; }

 private:
  task<> stop_and_remove();
  std::string dir_, bin_, dsn_;
  bool started_ = false;
  // AW_DEBUG: reports a manager dropped without being entered.
  aw::detail::enter_check<temporary_cluster> enter_check_;
};

}  // namespace aw::pg::testing
