// Test hook for crash and failure tests (docs/operations.md): TIDEMARK_FAULT=<point>[@N][:kill|:stop|:pause]
// fails the run (or, with :kill, kills the process as a crash would; with :stop, freezes it
// as a hung host would) the N-th time (default: the first) the process passes <point>, counted
// over all its threads. With :pause every thread that passes <point> from the N-th time on
// waits there, holding its locks and sessions, until the file named by TIDEMARK_FAULT_RELEASE
// exists (it logs "paused at fault point <point>" first); the other threads go on.
// Points: after_snapshot, after_stage, after_apply, before_commit, after_commit, chunk_claimed,
// state_file_written, pipeline_done.
#pragma once

namespace tidemark {
void fault_point(const char* point);
// TIDEMARK_NAIVE_WATERMARK=1 turns in-flight tracking off (safe = max cursor seen), so tests
// can show the loss it prevents. Never set it in production.
bool naive_watermark();
}  // namespace tidemark
