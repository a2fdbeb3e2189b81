//! `GoAlloc`: the process's Rust allocator, called off the stacks of
//! deterministic goroutines.
//!
//! Why a simulator of Go needs this: the collector scans goroutine stacks
//! conservatively, and a suspended stack holds stale words in the dead
//! slots of its live frames, left by whatever deeper calls ran there
//! before. For a seed to replay, those words must depend only on the run.
//! The system allocator's paths do not: whether `malloc` finds a chunk in
//! the thread cache, splits a bin, takes a lock or maps memory depends on
//! everything the process allocated before, on every thread, and each path
//! pushes the caller's callee-saved registers (heap pointers among them)
//! at a different depth. A later frame that leaves a slot there unwritten
//! then shows one run a heap pointer and the other run something else; the
//! scan keeps an object alive in one and not the other, the pacing moves,
//! and the interleaving with it. Measured on the GC torture workload:
//! replaying each of 40 seeds right after its first run in the same
//! process differed for 12 of them; with every allocation on a
//! constant-depth path, for none of 60.
//!
//! So when the caller is a deterministic goroutine, `GoAlloc` runs the
//! system allocator on the goroutine's parent stack (the driver thread's,
//! where the goroutine was resumed from) through corosensei's
//! `on_parent_stack`: the goroutine's stack sees the same few frames on
//! every call whatever the allocator does. Anything else (parallel-mode
//! goroutines, which replay nothing; threads outside any goroutine) calls
//! the system allocator directly, after one range check of the stack
//! pointer.
//!
//! `gort` installs it as the global allocator (its default `go-alloc`
//! feature); a binary that needs its own allocator turns the feature off
//! and loses exact replay of runs after the first in a process.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::g::GYielder;

/// The global allocator of gort programs (module comment).
pub struct GoAlloc;

/// The yielder of the deterministic goroutine whose stack we are on, if
/// any: its parent stack is where the allocator runs.
#[inline(always)]
fn det_yielder() -> Option<&'static GYielder> {
    let g = crate::stack::getg()?;
    if !g.det {
        return None;
    }
    // SAFETY: we run on `g`'s stack, so its coroutine is running and its
    // body has either set `yielder` to its own Yielder (which lives at the
    // base of this stack while the coroutine runs) or left it null (the
    // body not started yet, or a reused G reset by `newproc1`).
    unsafe { g.yielder.get().as_ref() }
}

/// Runs `f` on the parent stack of `y`'s coroutine. The pointers cross as
/// integers: the closure runs on this thread, before this call returns.
#[inline(always)]
fn on_parent<F: FnOnce() -> usize + Send>(y: &GYielder, f: F) -> *mut u8 {
    y.on_parent_stack(f) as *mut u8
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged (possibly on another stack of the same thread), so `System`'s
// contract is `GoAlloc`'s.
unsafe impl GlobalAlloc for GoAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match det_yielder() {
            // SAFETY: the caller's contract for `alloc`.
            Some(y) => on_parent(y, move || unsafe { System.alloc(layout) } as usize),
            // SAFETY: as above.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match det_yielder() {
            // SAFETY: the caller's contract for `alloc_zeroed`.
            Some(y) => on_parent(y, move || unsafe { System.alloc_zeroed(layout) } as usize),
            // SAFETY: as above.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match det_yielder() {
            Some(y) => {
                let p = ptr as usize;
                on_parent(y, move || {
                    // SAFETY: the caller's contract for `dealloc`.
                    unsafe { System.dealloc(p as *mut u8, layout) };
                    0
                });
            }
            // SAFETY: as above.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match det_yielder() {
            Some(y) => {
                let p = ptr as usize;
                // SAFETY: the caller's contract for `realloc`.
                on_parent(y, move || unsafe {
                    System.realloc(p as *mut u8, layout, new_size) as usize
                })
            }
            // SAFETY: as above.
            None => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}
