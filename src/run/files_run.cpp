// A run of a strategy-files pipeline (docs/files.md): list the directory, decide per file
// (plan_files), and load each new or changed file in a transaction of its own that replaces
// the file's earlier rows and records it in the manifest.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <iostream>
#include <set>

#include "run/fault.hpp"
#include "run/executor.hpp"
#include "run/scheduler.hpp"
#include "run/run_state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"
#include "tidemark/files.hpp"
#include "tidemark/run_plan.hpp"
#include "tidemark/log.hpp"
#include "tidemark/util.hpp"
#include "tidemark/writer.hpp"

namespace tidemark {
namespace {

constexpr const char* kStage = kStageTable;
// Each row the target's types reject costs one more pass over the file in quarantine mode.
constexpr size_t kMaxTypeRejects = 100;

struct Reject {
  int64_t line;
  std::string reason, raw;
};

// Text for a text column: NUL bytes and invalid UTF-8 become U+FFFD.
std::string valid_utf8(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && c != 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

files::Format format_for(const FilesDetect& f, const std::string& rel) {
  std::optional<files::Format> fmt = files::format_from_name(rel);
  if (!f.format.empty()) {
    fmt = fmt.value_or(files::Format{});
    fmt->kind = f.format == "jsonl" ? files::Format::Kind::kJsonl : files::Format::Kind::kCsv;
  }
  if (!fmt)
    throw files::FileError(rel, 0, "unknown format: name it *.csv, *.tsv, *.jsonl or *.ndjson (optionally .gz), "
                                   "or set detect.format");
  if (!f.delimiter.empty()) fmt->delimiter = f.delimiter[0];
  fmt->quote = f.quote[0];
  fmt->null_string = f.null_string;
  fmt->ignore_unknown = f.ignore_unknown;
  return *fmt;
}

class FileLoader {
 public:
  FileLoader(const PipelineConfig& p, const Writer& writer, pg::Target& tgt, pg::FileStore& store,
             std::vector<std::string> columns, int64_t run_id)
      : p_(p), f_(p.detect.files), writer_(writer), tgt_(tgt), store_(store), columns_(std::move(columns)),
        run_id_(run_id) {}

  struct Loaded {
    int64_t rows = 0, written = 0, deleted = 0, rejected = 0;
  };

  // Loads one file in one target transaction; throws FileError when the file must stay
  // unloaded (the transaction is rolled back).
  Loaded load(const files::FileInfo& file, const std::string& checksum) {
    const std::string path = f_.path + "/" + file.rel;
    const files::Format fmt = format_for(f_, file.rel);
    const std::vector<std::string>& cols = columns_;
    std::vector<std::string> copy_cols = cols;
    copy_cols.push_back(f_.file_column);
    const std::string file_value = "\t" + copy_text(file.rel);

    tgt_.begin();
    tgt_.create_stage(kStage, p_.target.table, copy_cols);
    std::set<int64_t> skip;  // lines of rows the target's types rejected (quarantine)
    std::vector<Reject> rejects, type_rejects;
    Loaded out;
    std::vector<std::string> missing;  // columns no record had: left out, so the target's defaults apply
    for (;;) {
      rejects.clear();
      out.rows = 0;
      files::RecordReader reader(path, fmt, cols);
      auto next = [&](files::Record& rec) {
        for (;;) {
          try {
            if (!reader.next(rec)) return false;
          } catch (const files::FileError& e) {
            if (f_.on_bad_row != BadRows::kQuarantine || !reader.can_continue()) throw;
            rejects.push_back({e.line(), e.reason(), e.record()});
            continue;
          }
          if (!skip.count(rec.line)) return true;
        }
      };
      const auto rejected = tgt_.copy_guarded(kStage, copy_cols, [&](pg::Target::CopyIn& copy) {
        files::Record rec;
        while (next(rec)) {
          copy.write(rec.copy_line + file_value);
          ++out.rows;
        }
      });
      if (!rejected) {
        missing = reader.missing_columns();
        break;
      }
      // Find the rejected row: the COPY's line-th record of this pass.
      files::RecordReader again(path, fmt, cols);
      reader = std::move(again);
      files::Record rec;
      for (int64_t i = 0; i < rejected->line && next(rec); ++i) {
      }
      if (f_.on_bad_row != BadRows::kQuarantine) throw files::FileError(file.rel, rec.line, rejected->reason, rec.raw);
      skip.insert(rec.line);
      type_rejects.push_back({rec.line, rejected->reason, rec.raw});
      if (type_rejects.size() > kMaxTypeRejects)
        throw files::FileError(file.rel, 0, "more than " + std::to_string(kMaxTypeRejects) +
                                                " rows hold values the target's column types reject; fix the file "
                                                "or the target");
    }
    // A file that changed while it was read is not recorded as loaded.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_size != file.size ||
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec != file.mtime_ns)
      throw files::FileError(file.rel, 0, "changed while it was being loaded; a later run loads it");
    fault_point("after_stage");

    std::vector<std::string> insert_cols;
    for (const auto& c : copy_cols)
      if (std::find(missing.begin(), missing.end(), c) == missing.end()) insert_cols.push_back(c);
    WriteInput wi{p_.target.table, kStage, insert_cols, p_.target.key, std::nullopt,
                  files::file_rows(f_, file.rel), !p_.target.key.empty()};
    for (const auto& s : writer_.statements(wi)) {
      const int64_t n = tgt_.exec(s.sql);
      if (s.effect == WriteStatement::Effect::kWritten) out.written += n;
      if (s.effect == WriteStatement::Effect::kDeleted) out.deleted += n;
    }
    rejects.insert(rejects.end(), type_rejects.begin(), type_rejects.end());
    for (const auto& r : rejects)
      store_.add_reject(tgt_, p_.name, file.rel, r.line, valid_utf8(r.reason), valid_utf8(r.raw), run_id_);
    out.rejected = static_cast<int64_t>(rejects.size());
    store_.record_file(tgt_, p_.name, file, checksum, out.rows, out.rejected, run_id_);
    return out;  // the caller commits, with the run record
  }

 private:
  const PipelineConfig& p_;
  const FilesDetect& f_;
  const Writer& writer_;  // delete_insert: the file's rows replace its earlier ones
  pg::Target& tgt_;
  pg::FileStore& store_;
  std::vector<std::string> columns_;
  int64_t run_id_;
};

// The files executor: the listing and the manifest read under the pipeline's lock, planned by
// plan_run (strategy files: a decision per file), then each file to read loaded in a
// transaction of its own.
PipelineResult run_files(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts, RunProgress&) {
  log::PipelineScope scope(p.name);
  const Config& cfg = ctx.config();
  PipelineResult res;
  res.pipeline = p.name;
  const auto t0 = std::chrono::steady_clock::now();
  const FilesDetect& f = p.detect.files;
  pg::Connection& conn = ctx.writer(p.target.connection);
  const std::unique_ptr<StateBackend> state = open_state(cfg, p, conn);  // the target's: validated
  state->prepare(opts.dry_run);
  pg::FileStore store(conn, cfg.state.schema);  // the manifest
  pg::PipelineLock lock(conn, cfg.state.schema, p.name, !opts.dry_run);

  FilesSeen seen;
  seen.listing = files::list_files(f.path, f);
  seen.manifest = store.manifest(p.name);
  seen.now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const SourceShape none;
  const StoredState no_state;
  RunPlan rp = plan_run(PlanInput{p, none, no_state, opts.request, &seen});
  if (opts.dry_run) {
    plan_output() << plan_text(rp, no_state, std::nullopt);
    return res;
  }
  const std::vector<files::Decision>& plan = *rp.extract.files;

  res.run_id = state->start_run(rp.record_mode, Watermark{});
  log::PipelineScope::set_run_id(res.run_id);
  pg::Target tgt(conn);
  std::vector<std::string> columns;
  bool has_file_column = false;
  tgt.begin();
  for (const auto& c : tgt.columns(p.target.table)) {
    if (c.name == f.file_column) has_file_column = true;
    else columns.push_back(c.name);
  }
  tgt.abort();
  int64_t loaded = 0, skipped = 0;
  std::vector<std::string> failures;
  try {
    if (!has_file_column)
      throw RunError("target table " + p.target.table.display() + " has no column " + quote_ident(f.file_column) +
                     " (detect.file_column), which records each row's file: add it as text");
    FileLoader loader(p, *rp.writer, tgt, store, columns, res.run_id);
    for (const auto& d : plan) {
      if (d.action == files::Action::kUnsettled) spdlog::debug("{}: {}", d.file.rel, d.note);
      if (!files::reads(d.action)) {
        ++skipped;
        continue;
      }
      const std::string path = f.path + "/" + d.file.rel;
      try {
        const std::string sum = files::checksum_file(path);
        if (d.action == files::Action::kCheck && sum == seen.manifest.at(d.file.rel).checksum) {
          store.touch_file(p.name, d.file);  // touched, same content: not reloaded
          spdlog::info("{}: {}, content unchanged; not reloaded", d.file.rel, d.note);
          ++skipped;
          continue;
        }
        const FileLoader::Loaded l = loader.load(d.file, sum);
        res.rows_read += l.rows;
        res.rows_written += l.written;
        res.rows_deleted += l.deleted;
        state->save_with_data(tgt, {}, std::nullopt, pg::RunRecord{res.run_id, "running", res.rows_read, res.rows_written,
                                                                   res.rows_deleted, std::nullopt, ""}, {});
        fault_point("before_commit");
        tgt.commit();
        fault_point("after_commit");
        ++loaded;
        spdlog::info("{}: {} rows{}{}{}", d.file.rel, l.rows, l.deleted ? ", replacing " + std::to_string(l.deleted) : "",
                     l.rejected ? ", " + std::to_string(l.rejected) + " rejected (tidemark.rejects)" : "",
                     d.action == files::Action::kCheck ? " (" + d.note + ", content changed)" : "");
      } catch (const files::FileError& e) {
        tgt.abort();
        spdlog::error("{}: {} (not loaded; other files go on)", p.name, e.what());
        failures.push_back(e.what());
      }
    }
  } catch (...) {
    tgt.abort();
    state->failed(res, std::nullopt);
    throw;
  }
  res.window = std::to_string(loaded) + " file(s) loaded, " + std::to_string(skipped) + " skipped" +
               (failures.empty() ? "" : ", " + std::to_string(failures.size()) + " failed");
  if (!failures.empty()) {
    const std::string why = std::to_string(failures.size()) + " file(s) failed and stay unloaded; first: " + failures[0];
    state->finish_run(pg::RunRecord{res.run_id, "failed", res.rows_read, res.rows_written, res.rows_deleted,
                                    std::nullopt, why});
    throw RunError(why);
  }
  state->finish_run(pg::RunRecord{res.run_id, "succeeded", res.rows_read, res.rows_written, res.rows_deleted,
                                  std::nullopt, ""});
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace

const Executor& files_executor() {
  static const FunctionExecutor<run_files> e;
  return e;
}

}  // namespace tidemark
