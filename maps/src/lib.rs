//! gort-maps: Go 1.19's classic hash map and sync.Map, living in the
//! simulated heap of gort-gc.
//!
//! This crate will hold `hmap` with its buckets and oldbuckets, incremental
//! evacuation, same-size growth, iteration, and the three concurrent-misuse
//! checks Go performs (`concurrent map writes`, `concurrent map read and map
//! write`, `concurrent map iteration and map write`), plus sync.Map. Every
//! heap access goes through gort-scheduler's `step()` hook so deterministic
//! mode can interleave goroutines inside `mapassign`. Nothing is implemented
//! here yet (see the hmap issue).
