//! Go 1.19's typed atomics (`sync/atomic`'s `type.go` and `value.go`):
//! `Int32`, `Int64`, `Uint32`, `Uint64`, `Uintptr`, `Bool`, `Pointer<T>`
//! and `Value<T>`, with Go's method set in Rust case (`load`, `store`,
//! `swap`, `compare_and_swap`, and `add` for the integers).
//!
//! Every operation is sequentially consistent, as all of Go's atomics are,
//! and is one `step()`, so deterministic mode can switch goroutines between
//! any two atomic operations (the interleavings of lock-free code are then
//! explored like those of plain memory accesses). Integer `add` wraps and
//! returns the new value, like Go's (subtract with `add(-d)`, or with
//! `add(!(d - 1))` for the unsigned types, Go's `^uint32(c-1)` idiom).
//!
//! `Pointer<T>` holds an `Option<Arc<T>>` (Go's `*T`, `None` for nil) and
//! compares by identity (`Arc::ptr_eq`), like pointer equality; `Value<T>`
//! holds a clone of the last value stored (`None` before the first
//! store, Go's nil). Both guard their slot with the runtime's spin lock,
//! held for an `Arc` clone or swap only: no user code (`Clone`, `Drop`,
//! `PartialEq`) runs under it, so no goroutine can be switched out holding
//! it. Go's `Value` panics on a nil value (`sync/atomic: store of nil
//! value into Value` and its swap and compare-and-swap versions); its
//! "inconsistently typed" panics cannot happen with a typed `Value<T>`.
//!
//! Race detector (race.md §3): every operation is an atomic access for
//! the detector (racing with plain accesses, never with atomics) and, as
//! TSan has it, loads acquire, stores release and add/swap/compare-and-swap
//! do both, on a sync object per address (`race::atomic`).

use std::cell::UnsafeCell;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::Arc;

use crate::proc::step;
use crate::spinlock::SpinLock;

const SC: Ordering = Ordering::SeqCst;

macro_rules! atomic_int {
    ($(#[$doc:meta])* $name:ident, $t:ty, $atomic:ty) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name {
            v: $atomic,
        }

        impl $name {
            /// An atomic holding `v` (the default is zero, Go's zero value).
            pub const fn new(v: $t) -> $name {
                $name { v: <$atomic>::new(v) }
            }

            /// Go's `Load`.
            #[track_caller]
            pub fn load(&self) -> $t {
                step();
                crate::race::atomic(&self.v as *const _ as usize, std::mem::size_of_val(&self.v), true, false);
                self.v.load(SC)
            }

            /// Go's `Store`.
            #[track_caller]
            pub fn store(&self, val: $t) {
                step();
                crate::race::atomic(&self.v as *const _ as usize, std::mem::size_of_val(&self.v), false, true);
                self.v.store(val, SC)
            }

            /// Go's `Swap`: stores `new` and returns the previous value.
            #[track_caller]
            pub fn swap(&self, new: $t) -> $t {
                step();
                crate::race::atomic(&self.v as *const _ as usize, std::mem::size_of_val(&self.v), true, true);
                self.v.swap(new, SC)
            }

            /// Go's `CompareAndSwap`: stores `new` if the value is `old`;
            /// reports whether it did.
            #[track_caller]
            pub fn compare_and_swap(&self, old: $t, new: $t) -> bool {
                step();
                crate::race::atomic(&self.v as *const _ as usize, std::mem::size_of_val(&self.v), true, true);
                self.v.compare_exchange(old, new, SC, SC).is_ok()
            }

            /// Go's `Add`: adds `delta` (wrapping) and returns the new value.
            #[track_caller]
            pub fn add(&self, delta: $t) -> $t {
                step();
                crate::race::atomic(&self.v as *const _ as usize, std::mem::size_of_val(&self.v), true, true);
                self.v.fetch_add(delta, SC).wrapping_add(delta)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.v.load(Ordering::Relaxed), f)
            }
        }
    };
}

atomic_int!(
    /// An atomic `int32` (Go's `atomic.Int32`).
    Int32,
    i32,
    AtomicI32
);
atomic_int!(
    /// An atomic `int64` (Go's `atomic.Int64`).
    Int64,
    i64,
    AtomicI64
);
atomic_int!(
    /// An atomic `uint32` (Go's `atomic.Uint32`).
    Uint32,
    u32,
    AtomicU32
);
atomic_int!(
    /// An atomic `uint64` (Go's `atomic.Uint64`).
    Uint64,
    u64,
    AtomicU64
);
atomic_int!(
    /// An atomic `uintptr` (Go's `atomic.Uintptr`).
    Uintptr,
    usize,
    AtomicUsize
);

/// An atomic boolean (Go's `atomic.Bool`); the default is false.
#[derive(Default)]
pub struct Bool {
    v: AtomicBool,
}

impl Bool {
    pub const fn new(v: bool) -> Bool {
        Bool {
            v: AtomicBool::new(v),
        }
    }

    /// Go's `Load`.
    #[track_caller]
    pub fn load(&self) -> bool {
        step();
        crate::race::atomic(
            &self.v as *const _ as usize,
            std::mem::size_of_val(&self.v),
            true,
            false,
        );
        self.v.load(SC)
    }

    /// Go's `Store`.
    #[track_caller]
    pub fn store(&self, val: bool) {
        step();
        crate::race::atomic(
            &self.v as *const _ as usize,
            std::mem::size_of_val(&self.v),
            false,
            true,
        );
        self.v.store(val, SC)
    }

    /// Go's `Swap`: stores `new` and returns the previous value.
    #[track_caller]
    pub fn swap(&self, new: bool) -> bool {
        step();
        crate::race::atomic(
            &self.v as *const _ as usize,
            std::mem::size_of_val(&self.v),
            true,
            true,
        );
        self.v.swap(new, SC)
    }

    /// Go's `CompareAndSwap`.
    #[track_caller]
    pub fn compare_and_swap(&self, old: bool, new: bool) -> bool {
        step();
        crate::race::atomic(
            &self.v as *const _ as usize,
            std::mem::size_of_val(&self.v),
            true,
            true,
        );
        self.v.compare_exchange(old, new, SC, SC).is_ok()
    }
}

impl std::fmt::Debug for Bool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.v.load(Ordering::Relaxed), f)
    }
}

/// A slot holding an `Option<Arc<T>>` behind the runtime's spin lock; the
/// shared body of `Pointer` and `Value`. The lock is held only to clone or
/// replace the `Arc`: the old value is dropped after it is released.
struct Slot<T> {
    lock: SpinLock,
    v: UnsafeCell<Option<Arc<T>>>,
}

// SAFETY: `v` is only accessed with `lock` held; what crosses threads is an
// `Arc<T>`, which is Send and Sync when T is.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for Slot<T> {}

impl<T> Slot<T> {
    const fn new(v: Option<Arc<T>>) -> Slot<T> {
        Slot {
            lock: SpinLock::new(),
            v: UnsafeCell::new(v),
        }
    }

    fn load(&self) -> Option<Arc<T>> {
        self.lock.lock();
        // SAFETY: the lock is held.
        let v = unsafe { &*self.v.get() }.clone();
        self.lock.unlock();
        v
    }

    fn swap(&self, new: Option<Arc<T>>) -> Option<Arc<T>> {
        self.lock.lock();
        // SAFETY: the lock is held.
        let old = std::mem::replace(unsafe { &mut *self.v.get() }, new);
        self.lock.unlock();
        old
    }

    /// Replaces the content with `new` if it is still `old` (by identity);
    /// on failure hands `new` back, to be dropped outside the lock.
    fn compare_and_swap(
        &self,
        old: Option<&Arc<T>>,
        new: Option<Arc<T>>,
    ) -> Result<Option<Arc<T>>, Option<Arc<T>>> {
        self.lock.lock();
        // SAFETY: the lock is held.
        let cur = unsafe { &mut *self.v.get() };
        let same = match (cur.as_ref(), old) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let r = if same {
            Ok(std::mem::replace(cur, new))
        } else {
            Err(new)
        };
        self.lock.unlock();
        r
    }
}

/// An atomic pointer of type `T` (Go's `atomic.Pointer[T]`): an
/// `Option<Arc<T>>`, `None` being nil (the default).
pub struct Pointer<T> {
    slot: Slot<T>,
}

impl<T> Default for Pointer<T> {
    fn default() -> Self {
        Pointer::new(None)
    }
}

impl<T> std::fmt::Debug for Pointer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pointer").finish_non_exhaustive()
    }
}

impl<T> Pointer<T> {
    pub const fn new(p: Option<Arc<T>>) -> Pointer<T> {
        Pointer { slot: Slot::new(p) }
    }

    /// Go's `Load`.
    #[track_caller]
    pub fn load(&self) -> Option<Arc<T>> {
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, true, false);
        self.slot.load()
    }

    /// Go's `Store`.
    #[track_caller]
    pub fn store(&self, val: Option<Arc<T>>) {
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, false, true);
        drop(self.slot.swap(val));
    }

    /// Go's `Swap`: stores `new` and returns the previous pointer.
    #[track_caller]
    pub fn swap(&self, new: Option<Arc<T>>) -> Option<Arc<T>> {
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, true, true);
        self.slot.swap(new)
    }

    /// Go's `CompareAndSwap`: stores `new` if the pointer is `old` (the
    /// same allocation, or both nil); reports whether it did.
    #[track_caller]
    pub fn compare_and_swap(&self, old: Option<&Arc<T>>, new: Option<Arc<T>>) -> bool {
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, true, true);
        self.slot.compare_and_swap(old, new).is_ok()
    }
}

/// Go's `atomic.Value` for values of one type `T`: `load` returns a clone
/// of the last value stored, `None` before the first store.
pub struct Value<T> {
    slot: Slot<T>,
}

impl<T> Default for Value<T> {
    fn default() -> Self {
        Value::new()
    }
}

impl<T> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value").finish_non_exhaustive()
    }
}

impl<T> Value<T> {
    /// An empty Value (Go's zero Value: `load` returns nil).
    pub const fn new() -> Value<T> {
        Value {
            slot: Slot::new(None),
        }
    }
}

impl<T: Clone> Value<T> {
    /// Go's `Load`: the value set by the most recent `store`, or `None`.
    #[track_caller]
    pub fn load(&self) -> Option<T> {
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, true, false);
        self.slot.load().map(|a| (*a).clone())
    }

    /// Go's `Store`: sets the value (`v.store(x)`; `v.store(None)` is
    /// Go's nil).
    ///
    /// # Panics
    /// `sync/atomic: store of nil value into Value` for `None`.
    #[track_caller]
    pub fn store(&self, val: impl Into<Option<T>>) {
        let Some(val) = val.into() else {
            panic!("sync/atomic: store of nil value into Value");
        };
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, false, true);
        drop(self.slot.swap(Some(Arc::new(val))));
    }

    /// Go's `Swap`: stores `new` and returns the previous value (`None`
    /// if the Value was empty).
    ///
    /// # Panics
    /// `sync/atomic: swap of nil value into Value` for `None`.
    #[track_caller]
    pub fn swap(&self, new: impl Into<Option<T>>) -> Option<T> {
        let Some(new) = new.into() else {
            panic!("sync/atomic: swap of nil value into Value");
        };
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, true, true);
        let old = self.slot.swap(Some(Arc::new(new)));
        old.map(|a| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()))
    }

    /// Go's `CompareAndSwap`: stores `new` if the current value equals
    /// `old` (`None`: the Value is empty); reports whether it did.
    ///
    /// # Panics
    /// `sync/atomic: compare and swap of nil value into Value` for a
    /// `None` new value.
    #[track_caller]
    pub fn compare_and_swap(&self, old: impl Into<Option<T>>, new: impl Into<Option<T>>) -> bool
    where
        T: PartialEq,
    {
        let Some(new) = new.into() else {
            panic!("sync/atomic: compare and swap of nil value into Value");
        };
        let old = old.into();
        step();
        crate::race::atomic(&self.slot as *const _ as usize, 8, true, true);
        // Go's loop body: load the current value, compare it with `old`
        // outside any lock (PartialEq is user code), then swap only if the
        // slot still holds the value that was compared.
        let cur = self.slot.load();
        if cur.as_deref() != old.as_ref() {
            return false;
        }
        self.slot
            .compare_and_swap(cur.as_ref(), Some(Arc::new(new)))
            .is_ok()
    }
}
