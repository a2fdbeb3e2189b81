//! Placeholder barrier switch (replaced by the write-barrier module).

use std::sync::atomic::Ordering;

use crate::mheap::Heap;

pub(crate) fn set_write_barrier(heap: &Heap, on: bool) {
    heap.wb_enabled.store(on, Ordering::Release);
}
