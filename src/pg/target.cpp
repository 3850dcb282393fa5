// Writing the target: staging table, COPY FROM STDIN, set-based apply, one transaction.
#include "pg/internal.hpp"

#include <pqxx/tablewriter>
#include <regex>

namespace tidemark::pg {

Target::Target(Connection& c) : c_(c) {}
Target::~Target() = default;

pqxx::result Target::query(const std::string& sql) {
  if (tx_) return tx_->exec(sql);
  pqxx::nontransaction tx(c_.raw());
  return tx.exec(sql);
}

void Target::begin() {
  try {
    tx_ = std::make_unique<pqxx::work>(c_.raw());
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

std::vector<Target::Column> Target::columns(const QualifiedName& table) {
  try {
    pqxx::result r = tx_->exec(
        "SELECT a.attname, EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod"
        " WHERE oc.opcintype = a.atttypid AND oc.opcdefault AND am.amname IN ('btree', 'hash'))"
        " FROM pg_attribute a WHERE a.attrelid = to_regclass(" + tx_->quote(table.quoted()) +
        ") AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");
    if (r.empty())
      throw RunError("target '" + c_.name() + "': table " + table.display() +
                     " does not exist; create it with the source's columns and key first");
    std::vector<Column> out;
    for (const auto& row : r) out.push_back({row[0].c_str(), row[1].as<bool>()});
    return out;
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

std::optional<std::vector<TargetColumn>> Target::describe(const QualifiedName& table) {
  try {
    pqxx::result r = query("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE "
                           "a.attrelid = to_regclass(" + c_.raw().quote(table.quoted()) +
                           ") AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");
    if (r.empty()) return std::nullopt;
    std::vector<TargetColumn> out;
    for (const auto& row : r) out.push_back({row[0].c_str(), row[1].c_str()});
    return out;
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

TargetNamespace Target::target_namespace(const QualifiedName& table) {
  try {
    const pqxx::result res = query("SELECT " + (table.schema.empty() ? std::string("true") :
                                   "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = " + c_.raw().quote(table.schema) + ")") +
                                   ", has_database_privilege(current_database(), 'CREATE'), current_user, current_database()");
    const pqxx::row r = res[0];
    return {r[0].as<bool>(), r[1].as<bool>(), r[2].c_str(), r[3].c_str()};
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

std::vector<PartitionInfo> Target::partitions(const QualifiedName& table, const std::string& column) {
  try {
    std::vector<PartitionInfo> out;
    for (const auto& row : tx_->exec(
             "SELECT format('%I.%I', n.nspname, c.relname), pg_get_expr(c.relpartbound, c.oid)"
             " FROM pg_partitioned_table pt JOIN pg_inherits i ON i.inhparent = pt.partrelid"
             " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
             " WHERE pt.partrelid = to_regclass(" + tx_->quote(table.quoted()) + ") AND pt.partnatts = 1"
             " AND pt.partstrat IN ('r', 'l') AND pt.partattrs[0] = (SELECT a.attnum FROM pg_attribute a"
             " WHERE a.attrelid = pt.partrelid AND a.attname = " + tx_->quote(column) + ")"))
      out.push_back({row[0].c_str(), row[1].c_str()});
    return out;
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

bool Target::key_is_unique(const QualifiedName& table, const std::vector<std::string>& key) {
  try {
    pqxx::row r = tx_->exec1(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass(" + tx_->quote(table.quoted()) +
        ") AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND "
        "(SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a "
        "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = "
        "(SELECT array_agg(k ORDER BY k) FROM unnest(" + tx_->quote(array_literal(key)) + "::text[]) AS k))");
    return r[0].as<bool>();
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

bool Target::claim_if_empty(const QualifiedName& table) {
  try {
    const std::string probe = "SELECT NOT EXISTS (SELECT 1 FROM " + table.quoted() + ")";
    if (!tx_->exec1(probe)[0].as<bool>()) return false;
    // Blocks other writers (not readers) until we commit. SHARE ROW EXCLUSIVE conflicts with
    // itself: two loads that both found the table empty (parallel backfill chunks) queue here
    // instead of deadlocking on their inserts, and the second then finds it no longer empty.
    tx_->exec("LOCK TABLE " + table.quoted() + " IN SHARE ROW EXCLUSIVE MODE");
    return tx_->exec1(probe)[0].as<bool>();
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

void Target::create_stage(const std::string& stage, const QualifiedName& target, const std::vector<std::string>& cols) {
  try {
    // The target's own column types, so COPY parses values exactly as the target stores them.
    tx_->exec("CREATE TEMP TABLE " + stage + " ON COMMIT DROP AS SELECT " + ident_list(cols) + " FROM " +
              target.quoted() + " WITH NO DATA");
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

// tablewriter is deprecated in libpqxx 6.4 but is the only public way to send a raw COPY
// line there (stream_to::write_raw_line is private); rows pass through without parsing.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct Target::CopyIn::Impl {
  pqxx::tablewriter writer;
  Impl(pqxx::transaction_base& tx, const std::string& stage, const std::vector<std::string>& cols)
      : writer(tx, stage, cols.begin(), cols.end()) {}
};
#pragma GCC diagnostic pop

Target::CopyIn::CopyIn(pqxx::transaction_base& tx, const std::string& stage, const std::vector<std::string>& cols,
                       std::string where)
    : where_(std::move(where)) {
  std::vector<std::string> quoted;
  for (const auto& c : cols) quoted.push_back(quote_ident(c));
  try {
    impl_ = std::make_unique<Impl>(tx, stage, quoted);
  } catch (...) {
    rethrow();
  }
}

Target::CopyIn::CopyIn(Target& tgt, const std::string& stage, const std::vector<std::string>& cols, std::string where)
    : CopyIn(tgt.tx(), stage, cols, std::move(where)) {}

Target::CopyIn::~CopyIn() = default;

// With no `where` (copy_guarded, which reads the rejected row's line from the server's
// message) the libpqxx error goes on as it is.
void Target::CopyIn::rethrow() const {
  if (where_.empty()) throw;
  translate(where_);
}

void Target::CopyIn::write(const std::string& line) {
  try {
    impl_->writer.write_raw_line(line);
  } catch (...) {
    rethrow();
  }
}

void Target::CopyIn::complete() {
  try {
    impl_->writer.complete();
  } catch (...) {
    rethrow();
  }
}

std::optional<Target::CopyRejected> Target::copy_guarded(const std::string& into, const std::vector<std::string>& cols,
                                                         const std::function<void(CopyIn&)>& produce) {
  std::optional<pqxx::subtransaction> sub;
  try {
    sub.emplace(static_cast<pqxx::dbtransaction&>(*tx_), "tm_copy");
    {
      CopyIn copy(*sub, into, cols, "");
      produce(copy);
      copy.complete();
    }
    sub->commit();
    return std::nullopt;
  } catch (const pqxx::data_exception& e) {
    // "ERROR:  <reason>\nCONTEXT:  COPY <table>, line N, column C: \"value\"\n"
    static const std::regex context(R"(COPY [^,]+, line ([0-9]+)(?:, column ([^:\n]+))?)");
    const std::string msg = e.what();
    std::smatch m;
    if (!std::regex_search(msg, m, context)) translate("target '" + c_.name() + "'");
    std::string reason = msg.substr(0, msg.find('\n'));
    if (reason.rfind("ERROR:", 0) == 0) reason = reason.substr(reason.find_first_not_of(' ', 6));
    if (m[2].matched) reason = "column " + m[2].str() + ": " + reason;
    sub.reset();  // rolls back to the savepoint
    return CopyRejected{std::stoll(m[1].str()), reason};
  } catch (...) {
    sub.reset();
    translate("target '" + c_.name() + "'");
  }
}

int64_t Target::exec(const Sql& sql) {
  try {
    return static_cast<int64_t>(tx_->exec(c_.render(sql)).affected_rows());
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

int64_t Target::delete_all(const QualifiedName& table) { return exec(Sql("DELETE FROM " + table.quoted())); }

void Target::analyze(const std::string& stage) { exec(Sql("ANALYZE " + stage)); }

void Target::run_ddl(const std::string& ddl) { exec(Sql(ddl)); }

void Target::commit() {
  try {
    tx_->commit();
    tx_.reset();
  } catch (...) {
    translate("target '" + c_.name() + "'");
  }
}

void Target::abort() {
  if (!tx_) return;
  try {
    tx_->abort();
  } catch (...) {  // the connection may already be gone; the server rolls back for us
  }
  tx_.reset();
}

}  // namespace tidemark::pg
