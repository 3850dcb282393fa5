// The Prometheus text of `run --metrics-file` (pure) and its atomic replacement.
#include "metrics/metrics.hpp"

#include <cstdio>
#include <cstdlib>

#include "tidemark/errors.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/file_util.hpp"

namespace tidemark::metrics {

int status_code(PipelineResult::Outcome o) {
  switch (o) {
    case PipelineResult::Outcome::kOk: return kExitOk;
    case PipelineResult::Outcome::kFailed: return kExitRunFailed;
    case PipelineResult::Outcome::kConfig: return kExitUsage;
    case PipelineResult::Outcome::kLocked: return kExitLocked;
  }
  return kExitRunFailed;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Reads exactly `n` digits (n == 0: one or more) at `i`.
bool digits(const std::string& s, size_t& i, size_t n, int64_t& out) {
  size_t start = i;
  out = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && (n == 0 || i - start < n)) out = out * 10 + (s[i++] - '0');
  return n == 0 ? i > start && i - start <= 9 : i - start == n;
}

bool take(const std::string& s, size_t& i, char c) {
  if (i < s.size() && s[i] == c) {
    ++i;
    return true;
  }
  return false;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

struct Family {
  const char* name;
  const char* help;
  std::optional<std::string> (*value)(const PipelineMetrics&);
};

std::optional<std::string> opt_number(const std::optional<double>& v) {
  return v ? std::optional<std::string>(number(*v)) : std::nullopt;
}

const Family kFamilies[] = {
    {"tidemark_last_run_timestamp_seconds", "Unix time tidemark last ran the pipeline, whatever the outcome.",
     [](const PipelineMetrics& m) { return opt_number(m.last_run); }},
    {"tidemark_last_success_timestamp_seconds", "Unix time the pipeline's last successful run finished.",
     [](const PipelineMetrics& m) { return opt_number(m.last_success); }},
    {"tidemark_run_duration_seconds", "Duration of the pipeline's last run in seconds.",
     [](const PipelineMetrics& m) { return opt_number(m.duration); }},
    {"tidemark_rows_read", "Rows the pipeline's last run read from the source.",
     [](const PipelineMetrics& m) { return std::optional<std::string>(std::to_string(m.rows_read)); }},
    {"tidemark_rows_written", "Rows the pipeline's last run wrote to the target.",
     [](const PipelineMetrics& m) { return std::optional<std::string>(std::to_string(m.rows_written)); }},
    {"tidemark_rows_deleted", "Rows the pipeline's last run deleted from the target.",
     [](const PipelineMetrics& m) { return std::optional<std::string>(std::to_string(m.rows_deleted)); }},
    {"tidemark_run_status",
     "Outcome of the pipeline's last run as an exit code: 0 ok, 1 failed, 2 config error, 75 skipped (locked).",
     [](const PipelineMetrics& m) { return std::optional<std::string>(std::to_string(m.status)); }},
    {"tidemark_watermark_lag_seconds",
     "Seconds from the pipeline's safe watermark to now (updated_at pipelines with a timestamp cursor).",
     [](const PipelineMetrics& m) { return opt_number(m.watermark_lag); }},
};

}  // namespace

std::optional<double> timestamp_epoch_seconds(const std::string& text) {
  const std::string& s = text;
  size_t i = 0;
  int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  const size_t y0 = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') y = y * 10 + (s[i++] - '0');
  if (i - y0 < 4 || i - y0 > 6) return std::nullopt;
  if (!take(s, i, '-') || !digits(s, i, 2, mo) || !take(s, i, '-') || !digits(s, i, 2, d)) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  double frac = 0, offset = 0;
  if (i < s.size()) {
    if (!take(s, i, ' ') && !take(s, i, 'T')) return std::nullopt;
    if (!digits(s, i, 2, h) || !take(s, i, ':') || !digits(s, i, 2, mi) || !take(s, i, ':') || !digits(s, i, 2, sec))
      return std::nullopt;
    if (h > 24 || mi > 59 || sec > 60) return std::nullopt;
    if (take(s, i, '.')) {
      const size_t f0 = i;
      double scale = 0.1;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        frac += (s[i++] - '0') * scale;
        scale /= 10;
      }
      if (i == f0) return std::nullopt;
    }
    if (take(s, i, 'Z')) {
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      const int sign = s[i++] == '+' ? 1 : -1;
      int64_t oh = 0, om = 0, os = 0;
      if (!digits(s, i, 2, oh)) return std::nullopt;
      if (take(s, i, ':') && !digits(s, i, 2, om)) return std::nullopt;
      if (take(s, i, ':') && !digits(s, i, 2, os)) return std::nullopt;
      offset = sign * static_cast<double>(oh * 3600 + om * 60 + os);
    }
    if (i != s.size()) return std::nullopt;  // " BC", anything else
  }
  const int64_t days = days_from_civil(y, mo, d);
  return static_cast<double>(days * 86400 + h * 3600 + mi * 60 + sec) + frac - offset;
}

std::vector<PipelineMetrics> pipeline_metrics(const Config& cfg, const std::vector<PipelineResult>& results,
                                              const std::map<std::string, RunFacts>& facts,
                                              const std::map<std::string, double>& previous_success, double now) {
  std::vector<PipelineMetrics> out;
  for (const auto& r : results) {
    PipelineMetrics m;
    m.pipeline = r.pipeline;
    m.last_run = now;
    m.status = status_code(r.outcome);
    m.rows_read = r.rows_read;
    m.rows_written = r.rows_written;
    m.rows_deleted = r.rows_deleted;
    const bool ok = r.outcome == PipelineResult::Outcome::kOk;
    const auto f = facts.find(r.pipeline);
    const RunFacts fact = f == facts.end() ? RunFacts{} : f->second;
    // A failed run's result has no timing; its run record has.
    if (ok) m.duration = r.seconds;
    else if (r.outcome == PipelineResult::Outcome::kFailed && fact.known) m.duration = fact.run_seconds;
    if (fact.known) {
      m.last_success = fact.last_success;
    } else if (ok) {
      m.last_success = now;
    } else if (auto p = previous_success.find(r.pipeline); p != previous_success.end()) {
      m.last_success = p->second;
    }
    const PipelineConfig* p = cfg.find(r.pipeline);
    if (p && find_strategy(p->detect.strategy)->caps().bounds == StrategyCaps::Bounds::kTimestamp) {
      std::optional<std::string> cursor = fact.safe_cursor;
      if (!fact.known && ok && r.after.safe && !r.after.safe->empty()) cursor = r.after.safe->front();
      if (cursor)
        if (auto ts = timestamp_epoch_seconds(*cursor)) m.watermark_lag = now - *ts;
    }
    // A pipeline named twice keeps one series: the later result.
    bool replaced = false;
    for (auto& e : out)
      if (e.pipeline == m.pipeline) {
        e = m;
        replaced = true;
      }
    if (!replaced) out.push_back(std::move(m));
  }
  return out;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string metrics_text(const std::vector<PipelineMetrics>& pipelines) {
  std::string out;
  for (const Family& f : kFamilies) {
    std::string samples;
    for (const auto& m : pipelines)
      if (auto v = f.value(m))
        samples += std::string(f.name) + "{pipeline=\"" + escape_label_value(m.pipeline) + "\"} " + *v + "\n";
    if (samples.empty()) continue;  // e.g. no updated_at pipeline: no lag family at all
    out += std::string("# HELP ") + f.name + " " + f.help + "\n";
    out += std::string("# TYPE ") + f.name + " gauge\n";
    out += samples;
  }
  return out;
}

std::map<std::string, double> parse_metric(const std::string& text, const std::string& metric) {
  std::map<std::string, double> out;
  const std::string prefix = metric + "{pipeline=\"";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::string label;
    size_t i = prefix.size();
    bool closed = false;
    for (; i < line.size(); ++i) {
      if (line[i] == '"') {
        closed = true;
        ++i;
        break;
      }
      if (line[i] == '\\' && i + 1 < line.size()) {
        const char n = line[++i];
        label += n == 'n' ? '\n' : n;
      } else {
        label += line[i];
      }
    }
    if (!closed || line.compare(i, 2, "} ") != 0) continue;
    const char* start = line.c_str() + i + 2;
    char* stop = nullptr;
    const double v = std::strtod(start, &stop);
    if (stop == start || *stop != '\0') continue;
    out[label] = v;
  }
  return out;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  replace_file_atomically(path, text, "metrics file " + path);  // 0644: the collector usually runs as another user
}

}  // namespace tidemark::metrics
