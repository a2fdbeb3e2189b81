//! gort-demos: one binary per scenario (see `src/bin/`). `pingpong` is the
//! first: goroutines that ping-pong, workers that idle Ps steal, and
//! `GODEBUG=schedtrace` output to watch it happen. Later issues add the
//! article's map and GC scenarios and the `gort` CLI here.
