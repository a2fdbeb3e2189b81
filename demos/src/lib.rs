//! gort-demos: one binary per scenario (see `src/bin/`). `pingpong` is the
//! first: goroutines that ping-pong, workers that idle Ps steal, and
//! `GODEBUG=schedtrace` output to watch it happen; `gctree` shows the
//! collector through `GODEBUG=gctrace=1`. The article's map and GC
//! scenarios and the `gort` CLI are to come here.
