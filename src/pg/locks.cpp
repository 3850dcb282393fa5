// The per-pipeline advisory locks of a state schema (session level, on the state connection).
#include "pg/internal.hpp"
#include "pg/state_sql.hpp"

namespace tidemark::pg {

bool AdvisoryLocks::try_lock(const std::string& pipeline, bool shared) {
  try {
    pqxx::nontransaction tx(c_.raw());
    if (shared) {  // backfill chunks: wait out an incremental run, run beside other chunks
      tx.exec("SELECT pg_advisory_lock_shared(" + state_sql::lock_key(c_, schema_, pipeline) + ")");
      return true;
    }
    return tx.exec1("SELECT pg_try_advisory_lock(" + state_sql::lock_key(c_, schema_, pipeline) + ")")[0].as<bool>();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void AdvisoryLocks::unlock(const std::string& pipeline, bool shared) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec(std::string("SELECT pg_advisory_unlock") + (shared ? "_shared(" : "(") + state_sql::lock_key(c_, schema_, pipeline) + ")");
  } catch (...) {  // a lost connection released the lock already
  }
}

PipelineLock::PipelineLock(Connection& c, const std::string& schema, std::string pipeline, bool take, bool shared,
                           const std::string& what)
    : locks_(c, schema), pipeline_(std::move(pipeline)), held_(false), shared_(shared) {
  if (!take) return;
  if (!locks_.try_lock(pipeline_, shared_))
    throw LockBusy("pipeline " + pipeline_ + " is already running (advisory lock held); " + what);
  held_ = true;
}

PipelineLock::~PipelineLock() {
  if (held_) locks_.unlock(pipeline_, shared_);
}

}  // namespace tidemark::pg
