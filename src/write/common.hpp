// Pieces the write modes share.
#pragma once
#include "tidemark/writer.hpp"

namespace tidemark::write {

// `SELECT <cols> FROM <stage> s [WHERE extra]`, one row per key (the newest by the order
// column, then by load order) when `in.dedupe`.
std::string staged_rows(const WriteInput& in, const std::string& extra_where = "");
// `t.k1 = s.k1 AND …`
std::string key_match(const std::vector<std::string>& key, const std::string& t, const std::string& s);
// `INSERT INTO <target> (<cols>) ` + staged_rows
std::string insert_from_stage(const WriteInput& in, const std::string& extra_where = "");

FieldProblems require_key(const PipelineConfig& p, const std::string& mode);

}  // namespace tidemark::write
