#include "write/registry.hpp"

#include "tidemark/registry.hpp"

namespace tidemark {

static const Registry<Writer>& writers() {
  static const Registry<Writer> r = {&write::upsert_writer(), &write::delete_insert_writer(), &write::append_writer(),
                                     &write::full_refresh_writer(), &write::partition_overwrite_writer()};
  return r;
}

const Writer* find_writer(const std::string& name) { return writers().find(name); }
std::vector<std::string> writer_names() { return writers().names(); }
const std::vector<const Writer*>& all_writers() { return writers().all(); }

std::vector<std::string> writers_with(bool WriterCaps::*cap) { return writers().names_with(cap); }

}  // namespace tidemark
