//! Explicit roots: Go's global variables, and pointers a scenario keeps
//! outside goroutine stacks and the heap.
//!
//! The collector finds pointers in three places: goroutine stacks (scanned
//! conservatively), heap objects (scanned through their types' pointer
//! bitmaps) and these roots. A pointer held anywhere else (a Rust `Vec`, a
//! `Box`, a channel's buffer, a thread-local) is invisible to it, so an
//! object reachable only from there is freed; a `Root` is how a scenario
//! says "this is a global". Loads and stores are steps, like heap accesses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::mheap::Heap;
use crate::object::Ptr;

/// A pointer slot the collector treats as a root (a Go global variable).
/// Registered with the current runtime's heap while it lives.
pub struct Root {
    slot: Box<AtomicUsize>,
    /// The heap's root registry, shared so that a Root dropped after its
    /// runtime ended (its heap gone) still unregisters safely.
    registry: Arc<Mutex<Vec<usize>>>,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Root({:?})", Ptr(self.slot.load(Ordering::Relaxed)))
    }
}

impl Root {
    /// A new root holding `p`. Must be called on a goroutine.
    pub fn new(p: Ptr) -> Root {
        let heap = crate::mheap::must();
        let slot = Box::new(AtomicUsize::new(0));
        // The global's initialisation is a store like any other: the
        // globals' root job may have run already in this cycle.
        crate::mbarrier::write_barrier_global(&slot, p.0);
        slot.store(p.0, Ordering::Relaxed);
        heap.roots
            .lock()
            .unwrap()
            .push(&*slot as *const AtomicUsize as usize);
        Root {
            slot,
            registry: heap.roots.clone(),
        }
    }

    #[track_caller]
    pub fn load(&self) -> Ptr {
        gort_scheduler::step();
        Ptr(self.slot.load(Ordering::Relaxed))
    }

    /// A store into a global: after the write barrier, as Go's compiler
    /// emits one for every pointer store into a global.
    #[track_caller]
    pub fn store(&self, p: Ptr) {
        gort_scheduler::step();
        crate::mbarrier::write_barrier_global(&self.slot, p.0);
        self.slot.store(p.0, Ordering::Relaxed)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let me = &*self.slot as *const AtomicUsize as usize;
        self.registry.lock().unwrap().retain(|&r| r != me);
    }
}

/// The values of every registered root (world stopped).
pub(crate) fn root_values(heap: &Heap) -> Vec<usize> {
    heap.roots
        .lock()
        .unwrap()
        .iter()
        // SAFETY: registered slots are live Boxes (unregistered in Drop).
        .map(|&r| unsafe { &*(r as *const AtomicUsize) }.load(Ordering::Relaxed))
        .collect()
}
