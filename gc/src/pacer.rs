//! The GC pacer: Go 1.19's heap goal and trigger (runtime/mgcpacer.go),
//! as pure functions of the values the collector measures.
//!
//! **Heap goal.** After each cycle Go's `gcControllerState.commit` computes
//! the goal of the next one from `GOGC` (`gcPercent`):
//!
//! ```text
//! goal = heapMarked + (heapMarked + lastStackScan + globalsScan) * GOGC / 100
//! goal = max(goal, heapMinimum)           heapMinimum = 4 MiB * GOGC / 100
//! ```
//!
//! `heap_goal` computes exactly that, in `u64` arithmetic that wraps like
//! Go's (only reachable with absurd `GOGC` values on huge heaps); with
//! `GOGC=off` it is `u64::MAX`. Go then derives the goal it *uses and
//! reports* (`heapGoal()`, printed as `G MB goal` by gctrace and returned
//! as `MemStats.NextGC`) in `heapGoalInternal`, which `heap_goal_internal`
//! mirrors:
//!
//! - the memory-limit goal wins if it is smaller. The limit (`GOMEMLIMIT`)
//!   defaults to `math.MaxInt64`, so this only matters with `GOGC=off`:
//!   the goal becomes `MaxInt64 - non-heap memory - 1 MiB headroom`, which
//!   is why Go prints `8796093022198 MB goal` for a small program
//!   (`(2^63-1) >> 20` is 8796093022207; its runtime has ~8 MiB of non-heap
//!   memory) and `8796093021857 MB` for a 10 GB heap (more GC metadata).
//!   `memory_limit_heap_goal` is Go's formula; `goal_for_trace` applies it
//!   with the default limit and **no non-heap memory**, since gort's
//!   simulated heap has no runtime-internal memory outside its spans: it
//!   prints `8796093022206 MB goal` where Go prints a value a few MB lower.
//! - otherwise the goal is raised to the sweep distance
//!   (`sweep_dist_min_trigger`): when `commit` ran before sweeping finished
//!   (always the case at mark termination, where Go calls it), the next
//!   trigger must leave the sweeper at least 1 MiB of allocation. This is
//!   why Go prints `1 MB goal` with `GOGC=0` or `GOGC=10` on a tiny heap:
//!   the goal is `heapMarked + 1 MiB`.
//! - and to `triggered + 64 KiB` once a cycle has been triggered.
//!
//! **Trigger.** Go starts a *concurrent* cycle before the heap reaches the
//! goal so that marking, during which the mutator keeps allocating, ends at
//! the goal. The distance is the runway, `consMark * 3 * scan work`, where
//! `consMark` is the ratio of the mutator's allocation rate to the GC's scan
//! rate; the trigger `goal - runway` is then clamped between 45/64 and 61/64
//! of the way from `heapMarked` to the goal (the upper bound is raised to
//! `goal - 4 MiB` for big heaps).
//!
//! gort's collector stops the world for the whole mark in this version, so
//! the mutator allocates nothing while marking: `consMark` is 0 and so is
//! the runway. `trigger` is Go's `trigger()` fed with a zero runway, which
//! its clamp turns into the upper bound: `heapMarked + (goal -
//! heapMarked)/64*61`, or `goal - 4 MiB` when that is higher. We keep the
//! clamp rather than triggering exactly at the goal because it is what Go
//! itself computes with no runway (it also does so for a program's first
//! cycle, where `consMark` starts at 0 — hence `3->… MB, 4 MB goal` lines),
//! so gctrace's `H0` sits below `G` as in Go, and a later concurrent mark
//! can reuse the same bound with a real runway.

/// The smallest heap goal at `GOGC=100`, scaled by `GOGC/100`
/// (`defaultHeapMinimum`). Also the distance the trigger may stay below a
/// big heap's goal.
pub const HEAP_MINIMUM: u64 = 4 << 20;

/// Denominator of the trigger bounds (`triggerRatioDen`).
pub const TRIGGER_RATIO_DEN: u64 = 64;

/// Lowest trigger, in 64ths of the way from `heapMarked` to the goal
/// (`minTriggerRatioNum`, ~0.7).
pub const MIN_TRIGGER_RATIO_NUM: u64 = 45;

/// Highest trigger for small heaps, in 64ths of the way from `heapMarked`
/// to the goal (`maxTriggerRatioNum`, ~0.95).
pub const MAX_TRIGGER_RATIO_NUM: u64 = 61;

/// Allocation left to the sweeper when a cycle ends with sweeping
/// unfinished (`sweepMinHeapDistance`).
pub const SWEEP_MIN_HEAP_DISTANCE: u64 = 1 << 20;

/// The goal stays at least this far above the trigger (`minRunway` in
/// `heapGoalInternal`).
pub const MIN_RUNWAY: u64 = 64 << 10;

/// `GOMEMLIMIT`'s default, `math.MaxInt64`: no limit.
pub const MAX_MEMORY_LIMIT: u64 = i64::MAX as u64;

/// Safety margin subtracted from the memory-limit goal
/// (`memoryLimitHeapGoalHeadroom`).
pub const MEMORY_LIMIT_HEAP_GOAL_HEADROOM: u64 = 1 << 20;

/// `heapMinimum` for a `GOGC` value that is on (`setGCPercent`):
/// `HEAP_MINIMUM * gogc / 100`.
pub fn heap_minimum(gogc: u32) -> u64 {
    HEAP_MINIMUM * u64::from(gogc) / 100
}

/// Go's `gcPercentHeapGoal` (computed in `commit`): `heap_marked` plus
/// `GOGC` percent of the scannable memory (marked heap, scanned stacks and
/// globals), at least `heap_minimum(gogc)`; `u64::MAX` when `gogc` is
/// `None` (`GOGC=off`). See `goal_for_trace` for the value Go reports.
pub fn heap_goal(heap_marked: u64, stack_scan: u64, globals_scan: u64, gogc: Option<u32>) -> u64 {
    let Some(gogc) = gogc else {
        return u64::MAX;
    };
    // Go's uint64 arithmetic, wrapping included.
    let scannable = heap_marked
        .wrapping_add(stack_scan)
        .wrapping_add(globals_scan);
    let goal = heap_marked.wrapping_add(scannable.wrapping_mul(u64::from(gogc)) / 100);
    goal.max(heap_minimum(gogc))
}

/// Go's `memoryLimitHeapGoal`: the heap goal that keeps the runtime's
/// mapped memory under `memory_limit`. `mapped_ready` is the mapped memory
/// not returned to the OS, `heap_free` the free (unscavenged) part of the
/// heap, `heap_alloc` the bytes of heap objects; what remains of
/// `mapped_ready` is non-heap memory, which the limit must also cover. Never
/// below `heap_marked`. (Go re-reads its counters until
/// `heap_free + heap_alloc <= mapped_ready`; here an inconsistent input
/// counts as no non-heap memory.)
pub fn memory_limit_heap_goal(
    memory_limit: u64,
    mapped_ready: u64,
    heap_free: u64,
    heap_alloc: u64,
    heap_marked: u64,
) -> u64 {
    let non_heap_memory = mapped_ready.saturating_sub(heap_free.saturating_add(heap_alloc));
    let overage = mapped_ready.saturating_sub(memory_limit);
    if non_heap_memory.saturating_add(overage) >= memory_limit {
        // Non-heap memory alone exceeds the limit: GC continuously.
        return heap_marked;
    }
    let mut goal = memory_limit - (non_heap_memory + overage);
    if goal < MEMORY_LIMIT_HEAP_GOAL_HEADROOM
        || goal - MEMORY_LIMIT_HEAP_GOAL_HEADROOM < MEMORY_LIMIT_HEAP_GOAL_HEADROOM
    {
        goal = MEMORY_LIMIT_HEAP_GOAL_HEADROOM;
    } else {
        goal -= MEMORY_LIMIT_HEAP_GOAL_HEADROOM;
    }
    goal.max(heap_marked)
}

/// The goal Go reports for a `heap_goal` result, in gctrace and
/// `MemStats.NextGC`: `goal` capped by the memory-limit goal at the default
/// limit with no non-heap memory, `MaxInt64 - 1 MiB`. Only `GOGC=off` (or an
/// astronomically large goal) is affected: `goal_for_trace(u64::MAX) >> 20`
/// is 8796093022206. The sweep-distance and minimum-runway raises are not
/// applied here; `heap_goal_internal` has them.
pub fn goal_for_trace(goal: u64) -> u64 {
    goal.min(memory_limit_heap_goal(MAX_MEMORY_LIMIT, 0, 0, 0, 0))
}

/// `commit`'s `sweepDistMinTrigger`: 0 if sweeping was done when the goal
/// was committed, else `heap_live + 1 MiB` (the heap the sweeper needs to
/// finish before the next cycle). Go commits at mark termination, before
/// the sweep, so there it is `heapMarked + 1 MiB`.
pub fn sweep_dist_min_trigger(heap_live: u64, sweep_done: bool) -> u64 {
    if sweep_done {
        0
    } else {
        heap_live.wrapping_add(SWEEP_MIN_HEAP_DISTANCE)
    }
}

/// Go's `heapGoalInternal` at the default memory limit with no non-heap
/// memory: from `gc_percent_heap_goal` (a `heap_goal` result), the
/// `sweep_dist_min_trigger` of the last commit and the trigger of the
/// running cycle (`triggered`, `None` between cycles), returns the goal Go
/// uses and reports, and the lowest allowed trigger (for
/// `trigger_with_min`).
pub fn heap_goal_internal(
    gc_percent_heap_goal: u64,
    sweep_dist_min_trigger: u64,
    triggered: Option<u64>,
) -> (u64, u64) {
    let limit_goal = goal_for_trace(u64::MAX);
    if limit_goal < gc_percent_heap_goal {
        // The memory-limit regime ignores the sweep distance.
        return (limit_goal, 0);
    }
    let mut goal = gc_percent_heap_goal.max(sweep_dist_min_trigger);
    if let Some(t) = triggered {
        if goal < t.wrapping_add(MIN_RUNWAY) {
            goal = t.wrapping_add(MIN_RUNWAY);
        }
    }
    (goal, sweep_dist_min_trigger)
}

/// The heap size at which gort's stop-the-world collector starts a cycle
/// for this `goal`: Go's `trigger()` with no runway and no sweep-distance
/// bound, i.e. 61/64 of the way from `heap_marked` to `goal`, or
/// `goal - 4 MiB` when that is higher (see the module comment). Never above
/// `goal`; `goal` itself when `heap_marked >= goal`.
pub fn trigger(goal: u64, heap_marked: u64) -> u64 {
    trigger_with_min(goal, heap_marked, 0)
}

/// `trigger` with the lower bound `min_trigger` from `heap_goal_internal`
/// (Go raises the trigger to the sweep distance when it is above 61/64).
pub fn trigger_with_min(goal: u64, heap_marked: u64, min_trigger: u64) -> u64 {
    if heap_marked >= goal {
        return goal;
    }
    let span = goal - heap_marked;
    let lower_bound = span / TRIGGER_RATIO_DEN * MIN_TRIGGER_RATIO_NUM + heap_marked;
    let min_trigger = min_trigger.max(heap_marked).max(lower_bound);
    let mut max_trigger = span / TRIGGER_RATIO_DEN * MAX_TRIGGER_RATIO_NUM + heap_marked;
    if goal > HEAP_MINIMUM && goal - HEAP_MINIMUM > max_trigger {
        max_trigger = goal - HEAP_MINIMUM;
    }
    // With a zero runway Go's trigger is `goal`, clamped into
    // [min_trigger, max_trigger], so max_trigger unless min_trigger is
    // higher.
    max_trigger.max(min_trigger).min(goal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn goal_formula() {
        // A program's first cycle: nothing marked yet, the minimum applies
        // (Go: "gc 1 ... 4 MB goal").
        assert_eq!(heap_goal(0, 0, 0, Some(100)), 4 * MIB);
        assert_eq!(heap_goal(14 * MIB, 0, 0, Some(100)), 28 * MIB);
        // Stacks and globals count as scannable memory, not as heap.
        assert_eq!(heap_goal(10 * MIB, MIB, 3 * MIB, Some(100)), 24 * MIB);
        assert_eq!(heap_goal(10 * MIB, MIB, 3 * MIB, Some(200)), 38 * MIB);
        assert_eq!(heap_goal(10 * MIB, 0, 0, Some(50)), 15 * MIB);
        // Go multiplies before dividing, in integers.
        assert_eq!(
            heap_goal(10_000_001, 0, 0, Some(33)),
            10_000_001 + 3_300_000
        );
        assert_eq!(heap_goal(10_000_001, 7, 0, Some(1)), 10_000_001 + 100_000);
    }

    #[test]
    fn minimum_scales_with_gogc() {
        assert_eq!(heap_minimum(100), 4 * MIB);
        assert_eq!(heap_minimum(50), 2 * MIB);
        assert_eq!(heap_minimum(10), 419_430);
        assert_eq!(heap_minimum(0), 0);
        assert_eq!(heap_goal(MIB, 0, 0, Some(50)), 2 * MIB);
        assert_eq!(heap_goal(MIB, 0, 0, Some(400)), 16 * MIB);
        assert_eq!(heap_goal(MIB, 0, 0, Some(401)), 16_819_159);
        // GOGC=0: the goal is the live heap, or 0 before anything is marked
        // (Go prints "0 MB goal" for cycle 1 and then collects constantly).
        assert_eq!(heap_goal(0, 0, 0, Some(0)), 0);
        assert_eq!(heap_goal(10 * MIB, MIB, MIB, Some(0)), 10 * MIB);
    }

    #[test]
    fn gogc_off() {
        assert_eq!(heap_goal(123 * MIB, MIB, MIB, None), u64::MAX);
        // What Go prints: (MaxInt64 - non-heap - 1 MiB) >> 20.
        assert_eq!(goal_for_trace(u64::MAX) >> 20, 8_796_093_022_206);
        assert_eq!(goal_for_trace(u64::MAX), (i64::MAX as u64) - MIB);
        // With the ~8 MiB of non-heap memory of a small Go program, the
        // formula gives the number Go 1.19.8 printed for it.
        let mapped = 20 * MIB;
        let (free, alloc) = (10 * MIB, 2 * MIB);
        let g = memory_limit_heap_goal(MAX_MEMORY_LIMIT, mapped, free, alloc, alloc);
        assert_eq!(g >> 20, 8_796_093_022_198);
        // Ordinary goals pass through untouched.
        assert_eq!(goal_for_trace(28 * MIB), 28 * MIB);
    }

    #[test]
    fn memory_limit_goal_edges() {
        // Under the limit: limit - non-heap - headroom.
        assert_eq!(
            memory_limit_heap_goal(100 * MIB, 50 * MIB, 20 * MIB, 20 * MIB, 0),
            100 * MIB - 10 * MIB - MIB
        );
        // Over the limit: the overage comes off too.
        assert_eq!(
            memory_limit_heap_goal(100 * MIB, 120 * MIB, 40 * MIB, 40 * MIB, 0),
            100 * MIB - 40 * MIB - 20 * MIB - MIB
        );
        // Non-heap memory alone exceeds the limit: heapMarked.
        assert_eq!(
            memory_limit_heap_goal(10 * MIB, 30 * MIB, 0, 0, 7 * MIB),
            7 * MIB
        );
        // Tiny limits keep one headroom's worth; never below heapMarked.
        assert_eq!(memory_limit_heap_goal(MIB + 5, 0, 0, 0, 0), MIB);
        assert_eq!(
            memory_limit_heap_goal(50 * MIB, 0, 0, 0, 60 * MIB),
            60 * MIB
        );
    }

    #[test]
    fn sweep_distance_raises_small_goals_like_go() {
        // Go 1.19.8, GOGC=10, live heap 5.x MB: "6 MB goal" (5.x*1.1 < 5.x+1).
        let marked = 5 * MIB + 300_000;
        let percent = heap_goal(marked, 0, 0, Some(10));
        let sweep = sweep_dist_min_trigger(marked, false);
        let (goal, min_trigger) = heap_goal_internal(percent, sweep, None);
        assert_eq!(goal, marked + MIB);
        assert_eq!(goal >> 20, 6);
        assert_eq!(min_trigger, marked + MIB);
        // GOGC=0 on a tiny heap: "1 MB goal"; the trigger is the goal.
        let marked = 200_000;
        let (goal, min_trigger) = heap_goal_internal(
            heap_goal(marked, 0, 0, Some(0)),
            sweep_dist_min_trigger(marked, false),
            None,
        );
        assert_eq!(goal >> 20, 1);
        assert_eq!(trigger_with_min(goal, marked, min_trigger), goal);
        // A finished sweep imposes nothing.
        assert_eq!(sweep_dist_min_trigger(marked, true), 0);
        let (goal, _) = heap_goal_internal(heap_goal(marked, 0, 0, Some(0)), 0, None);
        assert_eq!(goal, marked);
        // At GOGC=100 the percent goal is already further away.
        let marked = 10 * MIB;
        let (goal, _) = heap_goal_internal(
            heap_goal(marked, 0, 0, Some(100)),
            sweep_dist_min_trigger(marked, false),
            None,
        );
        assert_eq!(goal, 20 * MIB);
        // Once triggered, the goal stays 64 KiB above the trigger.
        assert_eq!(
            heap_goal_internal(20 * MIB, 0, Some(20 * MIB - 1000)).0,
            20 * MIB - 1000 + MIN_RUNWAY
        );
        // GOGC=off: the memory-limit goal, sweep distance ignored.
        let (goal, min_trigger) = heap_goal_internal(u64::MAX, sweep, Some(5));
        assert_eq!((goal, min_trigger), (goal_for_trace(u64::MAX), 0));
    }

    #[test]
    fn trigger_is_gos_upper_bound() {
        // Small heap: 61/64 of the way, with Go's divide-then-multiply.
        assert_eq!(trigger(4 * MIB, 0), 4 * MIB / 64 * 61);
        // Go 1.19's gcpacertrace for a first cycle says "in 3997696 B": the
        // same trigger. gctrace shows it as "3->… MB, 4 MB goal".
        assert_eq!(trigger(4 * MIB, 0), 3_997_696);
        let marked = 10 * MIB + 12_345;
        let goal = 2 * marked;
        assert_eq!(trigger(goal, marked), marked + marked / 64 * 61);
        // Big heap: 4 MiB below the goal, which is above 61/64.
        assert_eq!(trigger(2000 * MIB, 1000 * MIB), 1996 * MIB);
        // Never above the goal; the goal itself when nothing is left.
        assert_eq!(trigger(5 * MIB, 5 * MIB), 5 * MIB);
        assert_eq!(trigger(5 * MIB, 6 * MIB), 5 * MIB);
        assert_eq!(trigger(0, 0), 0);
        for goal in [1, 63, 64, 65, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1, u64::MAX] {
            for marked in [0, goal / 2, goal.saturating_sub(1)] {
                let t = trigger(goal, marked);
                assert!(
                    t <= goal && t >= marked.min(goal),
                    "goal {goal} marked {marked}: {t}"
                );
            }
        }
        // GOGC=off never triggers on heap size in practice.
        assert_eq!(trigger(u64::MAX, 100 * MIB), u64::MAX - HEAP_MINIMUM);
    }

    #[test]
    fn min_trigger_raises_trigger() {
        // A min trigger below 61/64 changes nothing; above it wins.
        let t = trigger(20 * MIB, 10 * MIB);
        assert_eq!(trigger_with_min(20 * MIB, 10 * MIB, 11 * MIB), t);
        assert_eq!(t, 20_480_000);
        assert_eq!(trigger_with_min(20 * MIB, 10 * MIB, 20_500_000), 20_500_000);
        // ...but never past the goal.
        assert_eq!(trigger_with_min(20 * MIB, 10 * MIB, 30 * MIB), 20 * MIB);
    }
}
