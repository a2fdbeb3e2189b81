//! gort-gc: the simulated heap and its garbage collector.
//!
//! This crate will hold Go 1.19's memory manager as gort simulates it: arenas
//! bump-allocated with bumpalo and carved into spans of Go's size classes,
//! typed objects (size plus pointer bitmap), allocation, the tri-color
//! concurrent mark with the hybrid write barrier (and the Dijkstra, Yuasa and
//! "off" variants for experiments), conservative scanning of suspended
//! goroutine stacks, sweeping, the GOGC pacer and checkmark. It is built on
//! gort-scheduler's stop-the-world and `step()` hook; nothing is implemented
//! here yet (see the heap issue).
