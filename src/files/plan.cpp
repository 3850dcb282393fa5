// Strategy `files`: the pure decision per file (docs/files.md#what-gets-loaded).
#include <ctime>
#include <regex>

#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"
#include "tidemark/util.hpp"

namespace tidemark::files {
namespace {

constexpr int64_t kNsPerSecond = 1000000000;

std::optional<int64_t> utc(int y, int mo, int d, int h, int mi, int s) {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = timegm(&tm);
  if (tm.tm_mday != d) return std::nullopt;  // 2024-02-31 rolled over
  return static_cast<int64_t>(t);
}

}  // namespace

const char* action_name(Action a) {
  switch (a) {
    case Action::kLoad: return "load (new)";
    case Action::kCheck: return "check (changed size or mtime)";
    case Action::kReload: return "reload (in range)";
    case Action::kUnchanged: return "skip (unchanged)";
    case Action::kUnsettled: return "skip (still settling)";
    case Action::kOutOfRange: return "skip (out of range)";
  }
  return "?";
}

std::optional<int64_t> parse_time_bound(const std::string& text, int64_t now_s) {
  const int64_t day = now_s - now_s % 86400;
  if (text == "now") return now_s;
  if (text == "today") return day;
  if (text == "yesterday") return day - 86400;
  static const std::regex rel(R"(\s*-\s*([0-9]+\s*[a-z]+)\s*)");
  std::smatch m;
  if (std::regex_match(text, m, rel)) {
    const auto us = parse_duration_us(m[1].str());
    if (!us) return std::nullopt;
    return now_s - *us / 1000000;
  }
  static const std::regex abs(
      R"((\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)");
  if (!std::regex_match(text, m, abs)) return std::nullopt;
  auto num = [&](int i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
  auto t = utc(num(1), num(2), num(3), num(4), num(5), num(6));
  if (!t) return std::nullopt;
  if (m[7].matched && m[7].str() != "Z") {
    const std::string z = m[7].str();
    const int sign = z[0] == '-' ? -1 : 1;
    const int hh = std::stoi(z.substr(1, 2));
    const int mm = z.size() > 3 ? std::stoi(z.substr(z.size() - 2)) : 0;
    *t -= sign * (hh * 3600 + mm * 60);
  }
  return t;
}

std::optional<int64_t> date_from_name(const std::string& regex, const std::string& rel) {
  std::smatch m;
  const std::regex re(regex);
  if (!std::regex_search(rel, m, re) || m.size() < 2) return std::nullopt;
  static const std::regex date(R"((\d{4})[-_/]?(\d{2})[-_/]?(\d{2}))");
  std::smatch d;
  const std::string captured = m[1].str();
  if (!std::regex_match(captured, d, date)) return std::nullopt;
  return utc(std::stoi(d[1].str()), std::stoi(d[2].str()), std::stoi(d[3].str()), 0, 0, 0);
}

std::vector<Decision> plan_files(const FilesDetect& f, const std::vector<FileInfo>& listing,
                                 const std::map<std::string, ManifestEntry>& manifest, int64_t now_ns,
                                 int64_t settle_seconds, const RunRequest& req) {
  const int64_t now_s = now_ns / kNsPerSecond;
  std::optional<int64_t> from, to;
  if (req.mode == RunMode::kRange) {
    for (const auto& [flag, v, out] : {std::tuple{"--from", req.from, &from}, std::tuple{"--to", req.to, &to}})
      if (v) {
        *out = parse_time_bound(*v, now_s);
        if (!*out)
          throw ConfigError(std::string(flag) + " '" + *v + "' is not a date or time for strategy files (e.g. " +
                            "2024-01-31, 2024-01-31T12:00Z, today, -7d)");
      }
  }
  std::vector<Decision> out;
  for (const auto& file : listing) {
    Decision d{file, Action::kLoad, ""};
    const int64_t age_s = (now_ns - file.mtime_ns) / kNsPerSecond;
    if (req.mode == RunMode::kRange) {
      std::optional<int64_t> when = file.mtime_ns / kNsPerSecond;
      if (!f.date_from_name.empty()) when = date_from_name(f.date_from_name, file.rel);
      if (!when) {
        d.action = Action::kOutOfRange;
        d.note = "no date in its name";
      } else if ((from && *when < *from) || (to && *when >= *to)) {
        d.action = Action::kOutOfRange;
      } else {
        d.action = Action::kReload;
      }
    }
    if (d.action != Action::kOutOfRange && now_ns - file.mtime_ns < settle_seconds * kNsPerSecond) {
      d.action = Action::kUnsettled;
      d.note = age_s < 0 ? "modified in the future (" + std::to_string(-age_s) + "s ahead of this clock); waits for it"
                         : "modified " + std::to_string(age_s) + "s ago, settle is " + std::to_string(settle_seconds) + "s";
    } else if (d.action == Action::kLoad) {
      auto known = manifest.find(file.rel);
      if (known != manifest.end()) {
        const ManifestEntry& m = known->second;
        if (m.size == file.size && m.mtime_ns == file.mtime_ns) {
          d.action = Action::kUnchanged;
        } else {
          d.action = Action::kCheck;
          d.note = m.size != file.size ? "size " + std::to_string(m.size) + " -> " + std::to_string(file.size)
                                       : "modification time changed";
        }
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

Sql file_rows(const FilesDetect& f, const std::string& rel) {
  return Sql(quote_ident(f.file_column) + " = ").value(rel);
}

}  // namespace tidemark::files
