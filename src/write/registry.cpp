#include "write/registry.hpp"

namespace tidemark {

static const std::vector<const Writer*>& all_writers() {
  static const std::vector<const Writer*> all = {&write::upsert_writer(), &write::delete_insert_writer(),
                                                 &write::append_writer(), &write::full_refresh_writer(),
                                                 &write::partition_overwrite_writer()};
  return all;
}

const Writer* find_writer(const std::string& name) {
  for (const Writer* w : all_writers())
    if (w->name() == name) return w;
  return nullptr;
}

std::vector<std::string> writer_names() {
  std::vector<std::string> out;
  for (const Writer* w : all_writers()) out.push_back(w->name());
  return out;
}

}  // namespace tidemark
