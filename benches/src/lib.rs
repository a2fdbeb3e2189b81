//! gort-benches: criterion benchmarks live in `benches/`; this library is empty on purpose.
