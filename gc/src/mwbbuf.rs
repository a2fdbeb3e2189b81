//! Placeholder write-barrier buffers (replaced by the write-barrier module).

use crate::mheap::Heap;

pub(crate) fn wbbuf_flush_all(_heap: &Heap) -> usize {
    0
}
