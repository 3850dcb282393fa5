// The name -> write mode table (src/write/registry.cpp); each mode's file defines one.
#pragma once
#include "tidemark/writer.hpp"

namespace tidemark::write {
const Writer& upsert_writer();
const Writer& delete_insert_writer();
const Writer& append_writer();
const Writer& full_refresh_writer();
const Writer& partition_overwrite_writer();
}  // namespace tidemark::write
