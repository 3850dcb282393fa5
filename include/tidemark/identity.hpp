// What a pipeline's state is the state of (docs/correctness.md#identity-of-state): a watermark
// is meaningful only for the source relation, cursor and target it was taken on, so the state
// records them and every run compares them with its config before it writes anything.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tidemark {

struct PipelineConfig;

// A database as a connection sees it.
struct DatabaseIdentity {
  std::string name;    // current_database()
  std::string system;  // the cluster's system identifier (pg_control_system()); "" when not readable
  // Same database: the names match and so do the system identifiers, where both are known.
  bool same_as(const DatabaseIdentity& o) const;
  std::string text() const;  // "database src" / "database src (system 7714505423274551714)"
};

struct StateIdentity {
  DatabaseIdentity source_database;
  std::string source_table;  // schema-qualified and quoted: "public"."orders"; "" for a query source
  std::string source_query;  // "sha256:<hex>" of the normalized query text; "" for a table source
  DatabaseIdentity target_database;
  std::string target_table;  // schema-qualified and quoted
  std::string cursor;        // detect.cursor; "" for strategies without one

  nlohmann::json to_json() const;
  // Throws RunError naming the field ("'identity.source.table' must be a string").
  static StateIdentity from_json(const nlohmann::json& j, const std::string& where = "identity");
  // One line for messages: `"public"."orders" in database src -> "analytics"."orders" in
  // database dw, cursor updated_at`.
  std::string text() const;
  bool operator==(const StateIdentity& o) const { return to_json() == o.to_json(); }
};

// What differs between the stored identity and the config's, one "what: stored -> now" line
// each; empty when they are the same state. The target database is compared only when
// `compare_target_database` (the state lives outside the target database: with the state in
// the target itself, moving the warehouse moves the state along with the data it describes).
std::vector<std::string> identity_differences(const StateIdentity& stored, const StateIdentity& now,
                                              bool compare_target_database);

// "sha256:<hex>" of the query with runs of whitespace collapsed to one space, leading and
// trailing whitespace and trailing semicolons removed: re-indenting a query keeps its state,
// any other edit is a new identity.
std::string query_fingerprint(const std::string& query);

// How a run treats the stored identity.
enum class IdentityVerdict {
  kSame,        // the state is this pipeline's (or there is no state yet)
  kAdoptLegacy, // state written by a tidemark that recorded no identity: record this one
  kReplace,     // --full-refresh under a new identity: it starts over and records this one
};

// Judges the stored identity (nullopt: none recorded) of existing state against `now`.
// Throws ConfigError for a mismatch outside --full-refresh: the message names both identities,
// what differs, and the ways out (a name or state schema of its own, --full-refresh,
// `tidemark state adopt`); `config_path` goes into the commands it suggests.
IdentityVerdict judge_identity(const PipelineConfig& p, const std::optional<StateIdentity>& stored,
                               const StateIdentity& now, bool full_refresh, bool compare_target_database,
                               const std::string& config_path);

// Why the pipeline must not run when its source table is its target table (a run would read
// and overwrite the same rows; a full refresh would empty it): nullopt when they differ.
std::optional<std::string> same_table_problem(const PipelineConfig& p, const StateIdentity& now);

}  // namespace tidemark
