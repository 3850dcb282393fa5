// The three ways a tidemark command can fail, each mapped to one exit code that cron reads.
#pragma once
#include <stdexcept>
#include <string>

namespace tidemark {

enum ExitCode : int { kExitOk = 0, kExitRunFailed = 1, kExitUsage = 2, kExitLocked = 75 };

// A config or usage problem: nothing was connected to, nothing was written (exit 2).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A run failed; its transaction was rolled back and its state is unchanged (exit 1).
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Another run of the same pipeline holds its advisory lock (exit 75, EX_TEMPFAIL).
class LockBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The connection was lost, or the server asked for the transaction to be retried
// (serialization failure, deadlock, shutdown, too many connections). A run that failed this
// way changed nothing and may be retried (config `retries`); data errors never are.
class TransientError : public RunError {
 public:
  using RunError::RunError;
};

// A connection that could not be opened, so nothing was begun, read or written with it: the
// runner says so instead of speaking of a rolled-back transaction. Caught as this type.
class ConnectFailure {
 public:
  virtual ~ConnectFailure() = default;
  virtual const char* message() const noexcept = 0;
};

// Could not connect, and trying again cannot help: authentication failed, the role or database
// does not exist, the host name does not resolve. Never retried (repeated failed logins can
// lock an account).
class ConnectError : public RunError, public ConnectFailure {
 public:
  using RunError::RunError;
  const char* message() const noexcept override { return what(); }
};

// Could not connect for now: refused, unreachable, timed out, the server starting or full.
// Retried with `retries`.
class ConnectTransientError : public TransientError, public ConnectFailure {
 public:
  using TransientError::TransientError;
  const char* message() const noexcept override { return what(); }
};

// The state row changed under us (compare-and-set found another version): a run that lost
// its lock must not move the watermark.
class StateConflict : public RunError {
 public:
  using RunError::RunError;
};

}  // namespace tidemark
