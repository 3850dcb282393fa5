// The run plan: which writer applies a run, how its rows reach the target, whether it moves
// the watermark, batch by batch or once; and the one printer that shows it for every strategy.
#include <catch2/catch.hpp>

#include <string>

#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/run_plan.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

PipelineConfig events(const std::string& strategy = "id", const std::string& write = "upsert") {
  PipelineConfig p;
  p.name = "events";
  p.source.connection = "app";
  p.source.table = QualifiedName{"public", "events"};
  p.detect.strategy = strategy;
  if (strategy == "id" || strategy == "updated_at") p.detect.cursor = strategy == "id" ? "id" : "at";
  p.target.connection = "warehouse";
  p.target.table = QualifiedName{"analytics", "events"};
  p.target.key = {"id"};
  p.target.write = write;
  return p;
}

SourceShape shape(bool key_unique = true) {
  SourceShape s;
  s.columns = {{"id", "bigint"}, {"kind", "text"}, {"at", "timestamp with time zone"}, {"gone", "boolean"}};
  s.key_unique = key_unique;
  return s;
}

StoredState at_id(const std::string& id) {
  StoredState st;
  st.exists = true;
  st.strategy = "id";
  st.version = 2;
  st.watermark.columns = {"id"};
  st.watermark.safe = st.watermark.high = Tuple{id};
  return st;
}

RunPlan plan(const PipelineConfig& p, const StoredState& st = {}, const RunRequest& rq = {}, bool unique = true) {
  const SourceShape s = shape(unique);
  return plan_run(PlanInput{p, s, st, rq});
}

}  // namespace

TEST_CASE("run plan: an incremental run applies the configured write mode and moves the watermark", "[unit]") {
  const RunPlan rp = plan(events(), at_id("10"));
  CHECK(rp.writer->name() == "upsert");
  CHECK(rp.record_mode == "incremental");
  CHECK(rp.tracks_watermark);
  CHECK_FALSE(rp.batched);
  CHECK(rp.write.reread == WriteInput::Reread::kUpToBound);
  REQUIRE(rp.write.reread_bound);
  CHECK(rp.write.reread_bound->display() == "CAST('10' AS bigint)");
}

TEST_CASE("run plan: a first run has nothing to re-read", "[unit]") {
  CHECK(plan(events()).write.reread == WriteInput::Reread::kNone);
}

TEST_CASE("run plan: a range run with a key replaces its range with delete_insert, whatever the mode", "[unit]") {
  const RunRequest range{RunMode::kRange, std::string("1"), std::string("100"), std::nullopt};
  const RunPlan rp = plan(events("id", "append"), at_id("10"), range);
  CHECK(rp.writer->name() == "delete_insert");
  CHECK(rp.record_mode == "range");
  CHECK_FALSE(rp.tracks_watermark);  // the incremental state is left alone
  CHECK(rp.write.target_range);
  CHECK(rp.write.reread == WriteInput::Reread::kAll);
}

TEST_CASE("run plan: strategy full replaces the target straight from the source and records a full run", "[unit]") {
  const RunPlan rp = plan(events("full", "full_refresh"));
  CHECK(rp.writer->name() == "full_refresh");
  CHECK(rp.record_mode == "full");
  CHECK(rp.load == LoadPath::kDirect);
  CHECK_FALSE(rp.tracks_watermark);
}

TEST_CASE("run plan: --full-refresh of a cursor strategy is a replacing run with its own record mode", "[unit]") {
  const RunPlan rp = plan(events(), at_id("10"), RunRequest{RunMode::kFullRefresh, {}, {}, {}});
  CHECK(rp.writer->name() == "full_refresh");
  CHECK(rp.record_mode == "full_refresh");
  CHECK(rp.tracks_watermark);  // it starts the watermark over
}

TEST_CASE("run plan: rows go through the stage when the source may repeat a key", "[unit]") {
  CHECK(plan(events(), at_id("10"), {}, /*unique=*/false).load == LoadPath::kStaged);
  CHECK(plan(events(), at_id("10"), {}, /*unique=*/true).load == LoadPath::kDirectIfEmpty);
}

TEST_CASE("run plan: batch_size batches only runs that move the watermark", "[unit]") {
  PipelineConfig p = events();
  p.batch_size = 500;
  CHECK(plan(p, at_id("10")).batched);
  CHECK_FALSE(plan(p, at_id("10"), RunRequest{RunMode::kRange, std::string("1"), std::string("9"), {}}).batched);
}

TEST_CASE("run plan: soft_delete mode delete needs its column in the source", "[unit]") {
  PipelineConfig p = events();
  p.detect.soft_delete = SoftDeleteConfig{"gone", SoftDeleteConfig::Mode::kDelete};
  const RunPlan rp = plan(p, at_id("10"));
  CHECK(rp.write.soft_delete_column == std::optional<std::string>("gone"));
  CHECK(rp.write.soft_delete_boolean);
  p.detect.soft_delete->column = "missing";
  CHECK_THROWS_WITH(plan(p, at_id("10")), Contains("the source has no soft_delete column 'missing'"));
}

TEST_CASE("run plan: partition_overwrite replaces windows of its column, directly without duplicate keys", "[unit]") {
  PipelineConfig p = events("updated_at", "partition_overwrite");
  p.target.partition_by = PartitionBy{"at", PartitionBy::Granularity::kDay, "UTC"};
  const RunPlan rp = plan(p);
  CHECK(rp.by_window);
  REQUIRE(rp.write.partitions);
  CHECK(rp.write.partitions->type == "timestamp with time zone");
  CHECK(rp.load == LoadPath::kDirect);
  p.target.partition_by->column = "nope";
  CHECK_THROWS_WITH(plan(p), Contains("the source has no column 'nope' (target.partition_by.column)"));
}

TEST_CASE("run plan: strategy files plans a decision per listed file against the manifest", "[unit]") {
  PipelineConfig p = events("files", "delete_insert");
  p.source.table.reset();
  p.detect.files.path = "/landing";
  p.detect.files.file_column = "_file";
  p.detect.settle_seconds = 0;
  FilesSeen seen;
  const int64_t now_ns = int64_t{1700000000} * 1000000000;
  seen.now_ns = now_ns;
  seen.listing = {{"a.csv", 10, now_ns - 100}, {"b.csv", 20, now_ns - 100}};
  seen.manifest["a.csv"] = files::ManifestEntry{10, now_ns - 100, "sha256:x"};
  const SourceShape none;
  const StoredState st;
  const RunPlan rp = plan_run(PlanInput{p, none, st, RunRequest{}, &seen});
  REQUIRE(rp.extract.files);
  REQUIRE(rp.extract.files->size() == 2);
  CHECK((*rp.extract.files)[0].action == files::Action::kUnchanged);
  CHECK((*rp.extract.files)[1].action == files::Action::kLoad);
  CHECK(rp.extract.window == "1 of 2 listed file(s) to read");
  CHECK(rp.writer->name() == "delete_insert");
  CHECK_FALSE(rp.tracks_watermark);
  // --full-refresh reloads every file
  const RunPlan all = plan_run(PlanInput{p, none, st, RunRequest{RunMode::kFullRefresh, {}, {}, {}}, &seen});
  CHECK((*all.extract.files)[0].action == files::Action::kReload);

  const std::string text = plan_text(rp, st, std::nullopt);
  CHECK_THAT(text, Contains("pipeline events (strategy files, write delete_insert per file)\n  directory: /landing\n"));
  CHECK_THAT(text, Contains("  skip (unchanged): a.csv\n  load (new): b.csv\n"));
  CHECK_THAT(text, Contains(R"(DELETE FROM "analytics"."events" WHERE "_file" = '<file>')"));
  CHECK_THAT(text, Contains("(dry run: nothing was written)"));
}

TEST_CASE("run plan: strategy cdc snapshots first, then reads the slot from the stored position", "[unit]") {
  PipelineConfig p = events("cdc", "upsert");
  const SourceShape none;
  SlotSeen slot{"tidemark_events", false, "", "", 0, 0};
  const RunPlan first = plan_run(PlanInput{p, none, StoredState{}, RunRequest{}, nullptr, &slot});
  REQUIRE(first.extract.slot);
  CHECK(first.extract.slot->snapshot);
  CHECK_FALSE(first.extract.slot->recreate);
  CHECK(first.record_mode == "snapshot");
  CHECK_THAT(plan_text(first, StoredState{}, std::nullopt),
             Contains("  next:      create the slot, copy the table in one snapshot"));

  StoredState st;
  st.exists = true;
  st.strategy = "cdc";
  st.watermark = cdc::to_watermark(cdc::Position{0x1000, std::nullopt, 0});
  slot = SlotSeen{"tidemark_events", true, "wal2json", "reserved", 0x1000, 4096};
  const RunPlan next = plan_run(PlanInput{p, none, st, RunRequest{}, nullptr, &slot});
  CHECK_FALSE(next.extract.slot->snapshot);
  CHECK(next.extract.slot->lsn == 0x1000);
  CHECK(next.extract.slot->batch_size == 10000);
  CHECK(next.record_mode == "incremental");
  const std::string text = plan_text(next, st, std::nullopt);
  CHECK_THAT(text, Contains("(strategy cdc, slot tidemark_events, table public.events)"));
  CHECK_THAT(text, Contains("  slot:      exists, 4096 bytes of WAL retained\n"));
  CHECK_THAT(text, Contains("apply the slot's changes in batches of 10000 changes"));

  // --full-refresh drops the existing slot and starts over
  const RunPlan again = plan_run(PlanInput{p, none, st, RunRequest{RunMode::kFullRefresh, {}, {}, {}}, nullptr, &slot});
  CHECK(again.extract.slot->recreate);
  CHECK_THAT(plan_text(again, st, std::nullopt), Contains("drop and recreate the slot"));

  slot.wal_status = "lost";
  CHECK_THROWS_WITH(plan_run(PlanInput{p, none, st, RunRequest{}, nullptr, &slot}),
                    Contains("was invalidated (its WAL was removed, wal_status lost)"));
  slot.wal_status = "reserved";
  slot.plugin = "pgoutput";
  CHECK_THROWS_WITH(plan_run(PlanInput{p, none, st, RunRequest{}, nullptr, &slot}),
                    Contains("exists with output plugin pgoutput"));
}

TEST_CASE("run plan: the printer shows a query run's watermark, window, extract and statements", "[unit]") {
  const PipelineConfig p = events();  // the plan points at its pipeline
  const RunPlan rp = plan(p, at_id("10"));
  const std::string text = plan_text(rp, at_id("10"), int64_t{42});
  CHECK_THAT(text, Contains("pipeline events (strategy id, write upsert, incremental)\n"));
  CHECK_THAT(text, Contains("  watermark: high 10, safe 10, version 2\n"));
  CHECK_THAT(text, Contains("  extract:   COPY (SELECT "));
  CHECK_THAT(text, Contains("  estimate:  about 42 row(s) (the planner's EXPLAIN estimate)\n"));
  CHECK_THAT(text, Contains("  apply:     INSERT INTO \"analytics\".\"events\""));
  CHECK_THAT(text, Contains("  (dry run: nothing was written)\n"));
}
