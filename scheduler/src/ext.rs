//! Per-runtime state of the layers above the scheduler (the heap now; the
//! race detector and the tracer later), reached from a goroutine in one or
//! two loads: DESIGN.md's narrow hook interface.
//!
//! Each layer owns a `LayerKey<T>` (a `static` it keeps private) naming
//! the type of its state. The key takes a slot index of its own on first
//! use, so two layers never share a slot, and installing checks that the
//! slot's value really is a `T` before the typed fast pointer is published:
//! a read through the key can then only ever see a `T`. The scheduler
//! stores the values without knowing their types, so it depends on no
//! layer above it.
//!
//! What the key cannot check is lifetime: a layer's state lives as long as
//! its runtime (it is dropped with the scheduler), so the references handed
//! out here are only valid while the calling goroutine's runtime runs. The
//! readers are therefore `unsafe fn`s, whose callers (the owning layer's
//! accessors) keep the reference inside the current runtime call.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::g::G;
use crate::sched::Sched;
use crate::stack::getg;

/// How many layer keys a process can create: the heap, the race detector
/// and the tracer, with room to spare.
pub const MAX_LAYERS: usize = 8;

/// Slot indices handed out so far (process-wide: a key has one index in
/// every runtime).
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// The typed name of one layer's per-runtime state. Define it as a private
/// `static` of the layer that owns `T`.
///
/// A key cannot be copied: its slot index is its identity.
///
/// ```compile_fail
/// static K: gort_scheduler::LayerKey<u64> = gort_scheduler::LayerKey::new();
/// let k2: gort_scheduler::LayerKey<u64> = K.clone(); // not Clone: one slot, one key
/// ```
///
/// Reading is `unsafe` (the reference must not outlive the runtime call):
///
/// ```compile_fail
/// static K: gort_scheduler::LayerKey<u64> = gort_scheduler::LayerKey::new();
/// let _ = K.get_or_init(|| 0);
/// ```
pub struct LayerKey<T> {
    /// The slot index plus one; 0 until the key is first used.
    index: AtomicUsize,
    _t: PhantomData<fn() -> T>,
}

impl<T: Any + Send + Sync> Default for LayerKey<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Any + Send + Sync> LayerKey<T> {
    pub const fn new() -> LayerKey<T> {
        LayerKey {
            index: AtomicUsize::new(0),
            _t: PhantomData,
        }
    }

    #[inline(always)]
    fn index(&self) -> usize {
        match self.index.load(Ordering::Relaxed) {
            0 => self.assign(),
            i => i - 1,
        }
    }

    #[cold]
    #[inline(never)]
    fn assign(&self) -> usize {
        let mine = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
        assert!(
            mine < MAX_LAYERS,
            "gort: more than {MAX_LAYERS} layer keys created"
        );
        match self
            .index
            .compare_exchange(0, mine + 1, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => mine,
            // Another thread assigned one first; `mine` stays unused.
            Err(i) => i - 1,
        }
    }

    /// This layer's state in the current goroutine's runtime, created by
    /// `init` on first use; `None` outside a goroutine.
    ///
    /// # Safety
    /// The reference is valid only while the calling goroutine's runtime
    /// runs: the caller must not keep it past the current runtime call on
    /// this goroutine (not store it, hand it to another thread, or return
    /// it to code that may outlive `Runtime::run`).
    pub unsafe fn get_or_init(&self, init: impl FnOnce() -> T) -> Option<&'static T> {
        let g = getg()?;
        // SAFETY: the caller's contract.
        Some(unsafe { self.install(g.sched(), init) })
    }

    /// This layer's state in the runtime whose `systemstack` call is running
    /// on this thread (`None` if none, or if the state was never created).
    ///
    /// # Safety
    /// As for `get_or_init`: only for the duration of the `systemstack`
    /// call.
    pub unsafe fn get_system(&self) -> Option<&'static T> {
        let g = crate::proc::current_system_g()?;
        let p = g.sched().ext.ptrs[self.index()].load(Ordering::Acquire);
        // SAFETY: only `install` stores this slot's pointer, and only after
        // checking that the boxed value is a `T`; the box lives as long as
        // the Sched, which outlives the systemstack call (caller's contract
        // for the lifetime).
        unsafe { (p as *const T).as_ref() }
    }

    /// Creates (once) and returns this key's value in `sched`.
    ///
    /// # Safety
    /// `sched` is the running runtime of the caller; the lifetime contract
    /// of `get_or_init`.
    unsafe fn install(&self, sched: &Sched, init: impl FnOnce() -> T) -> &'static T {
        let i = self.index();
        let slots = &sched.ext;
        let p = slots.ptrs[i].load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: as in `get_system`.
            return unsafe { &*(p as *const T) };
        }
        let b = slots.boxes[i].get_or_init(|| Box::new(init()));
        // The type check that makes every typed read of this slot sound.
        let t: &T = (**b)
            .downcast_ref::<T>()
            .expect("gort: a layer slot holds a value of another type");
        slots.ptrs[i].store(t as *const T as *mut (), Ordering::Release);
        // SAFETY: the box lives as long as the Sched (lifetime: the
        // caller's contract).
        unsafe { &*(t as *const T) }
    }
}

/// The layer slots of one runtime.
pub(crate) struct LayerSlots {
    /// The values, owned here and dropped with the Sched.
    boxes: [OnceLock<Box<dyn Any + Send + Sync>>; MAX_LAYERS],
    /// `boxes[i]` as a `*const T` of its key's type once it was checked:
    /// the fast path reads only this.
    ptrs: [AtomicPtr<()>; MAX_LAYERS],
}

impl LayerSlots {
    pub(crate) fn new() -> LayerSlots {
        LayerSlots {
            boxes: std::array::from_fn(|_| OnceLock::new()),
            ptrs: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        }
    }
}

/// For allocators: a safepoint, then the id of the current goroutine's P
/// and the layer state of `key` in its runtime (`None` before it was
/// created), with one `getg`. The P is valid until the next safepoint or
/// step. `None` outside a goroutine.
///
/// # Safety
/// The lifetime contract of `LayerKey::get_or_init`.
///
/// ```compile_fail
/// static K: gort_scheduler::LayerKey<u64> = gort_scheduler::LayerKey::new();
/// let _ = gort_scheduler::alloc_enter(&K); // unsafe: lifetime contract
/// ```
#[inline]
pub unsafe fn alloc_enter<T: Any + Send + Sync>(
    key: &LayerKey<T>,
) -> Option<(usize, Option<&'static T>)> {
    let g: &G = getg()?;
    crate::proc::safepoint(g);
    let sched = g.sched();
    let p = sched.ext.ptrs[key.index()].load(Ordering::Acquire);
    // SAFETY: only `install` stores this slot's pointer, after checking the
    // boxed value is a `T` (the key's index is its own); the box lives as
    // long as the Sched (lifetime: the caller's contract).
    let t = unsafe { (p as *const T).as_ref() };
    Some((Sched::current_p(g).id, t))
}
