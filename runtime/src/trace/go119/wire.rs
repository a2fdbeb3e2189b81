//! The wire side of the Go 1.19 writer: event type numbers, the varint
//! and event encodings, the per-P batches, the string and stack tables,
//! and the file's layout (header, batches, `EvFrequency` footer, then the
//! tables in a last batch, as `ReadTrace` returns them).
//!
//! Every event stores its timestamp as a delta from the previous event
//! of its batch; the type byte carries the number of arguments after the
//! timestamp, capped at 3, and an event with 3 or more takes the
//! length-prefixed form (`traceEventLocked`). The writer in the parent
//! module decides what to write; this only encodes it.

use std::collections::{BTreeMap, HashMap};

// Event types, version 1019 (runtime/trace.go's traceEv*).
pub(super) const EV_BATCH: u8 = 1;
pub(super) const EV_FREQUENCY: u8 = 2;
pub(super) const EV_STACK: u8 = 3;
pub(super) const EV_GOMAXPROCS: u8 = 4;
pub(super) const EV_PROC_START: u8 = 5;
pub(super) const EV_PROC_STOP: u8 = 6;
pub(super) const EV_GC_START: u8 = 7;
pub(super) const EV_GC_DONE: u8 = 8;
pub(super) const EV_GC_STW_START: u8 = 9;
pub(super) const EV_GC_STW_DONE: u8 = 10;
pub(super) const EV_GC_SWEEP_START: u8 = 11;
pub(super) const EV_GC_SWEEP_DONE: u8 = 12;
pub(super) const EV_GO_CREATE: u8 = 13;
pub(super) const EV_GO_START: u8 = 14;
pub(super) const EV_GO_END: u8 = 15;
pub(super) const EV_GO_STOP: u8 = 16;
pub(super) const EV_GO_SCHED: u8 = 17;
pub(super) const EV_GO_PREEMPT: u8 = 18;
pub(super) const EV_GO_SLEEP: u8 = 19;
pub(super) const EV_GO_BLOCK: u8 = 20;
pub(super) const EV_GO_UNBLOCK: u8 = 21;
pub(super) const EV_GO_BLOCK_SEND: u8 = 22;
pub(super) const EV_GO_BLOCK_RECV: u8 = 23;
pub(super) const EV_GO_BLOCK_SELECT: u8 = 24;
pub(super) const EV_GO_BLOCK_SYNC: u8 = 25;
pub(super) const EV_GO_BLOCK_COND: u8 = 26;
pub(super) const EV_GO_WAITING: u8 = 31;
pub(super) const EV_HEAP_ALLOC: u8 = 33;
pub(super) const EV_HEAP_GOAL: u8 = 34;
pub(super) const EV_STRING: u8 = 37;
pub(super) const EV_GO_BLOCK_GC: u8 = 42;
pub(super) const EV_GC_MARK_ASSIST_START: u8 = 43;
pub(super) const EV_GC_MARK_ASSIST_DONE: u8 = 44;
pub(super) const EV_USER_REGION: u8 = 47;
pub(super) const EV_USER_LOG: u8 = 48;

/// Ticks are nanoseconds.
const FREQUENCY: u64 = 1_000_000_000;
/// Stack id 0: no stack (gort has frames for creations and regions only).
pub(super) const NO_STACK: u64 = 0;
/// The parser's limit on a string's length (`EvString`, `readStr`).
const MAX_STRING: usize = 1_000_000;
/// Synthetic PCs: one per stack frame, so pprof's locations (keyed by PC)
/// keep their own line.
const PC_BASE: u64 = 0x40_0000;

/// One P's events: the tick of its first, of its last, and the encoding.
struct Batch {
    first: u64,
    last: u64,
    buf: Vec<u8>,
}

/// One stack frame of the table (every gort stack has one).
struct Frame {
    func: u64,
    file: u64,
    line: u64,
}

/// The file being built.
#[derive(Default)]
pub(super) struct Wire {
    /// By P, -1 (`traceGlobProc`) first: a deterministic layout.
    batches: BTreeMap<i64, Batch>,
    strings: HashMap<&'static str, u64>,
    string_list: Vec<&'static str>,
    stacks: HashMap<(&'static str, &'static str, u32), u64>,
    stack_list: Vec<Frame>,
    last_ts: Option<u64>,
}

impl Wire {
    pub(super) fn string(&mut self, s: &'static str) -> u64 {
        // The parser maps id 0 to "" and rejects an empty EvString.
        if s.is_empty() {
            return 0;
        }
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        self.string_list.push(s);
        let id = self.string_list.len() as u64;
        self.strings.insert(s, id);
        id
    }

    /// The id of the 1-frame stack `func` at `file:line`.
    pub(super) fn stack(&mut self, func: &'static str, file: &'static str, line: u32) -> u64 {
        if let Some(&id) = self.stacks.get(&(func, file, line)) {
            return id;
        }
        let frame = Frame {
            func: self.string(func),
            file: self.string(file),
            line: u64::from(line),
        };
        self.stack_list.push(frame);
        let id = self.stack_list.len() as u64;
        self.stacks.insert((func, file, line), id);
        id
    }

    /// Appends an event to `p`'s batch at `ts`, moved after the previous
    /// event if needed (see the module comment).
    pub(super) fn emit(&mut self, p: i64, ts: u64, typ: u8, args: &[u64], msg: Option<&str>) {
        let ts = match self.last_ts {
            Some(last) => ts.max(last + 1),
            None => ts,
        };
        self.last_ts = Some(ts);
        let b = self.batches.entry(p).or_insert(Batch {
            first: ts,
            last: ts,
            buf: Vec::new(),
        });
        let delta = ts - b.last;
        b.last = ts;
        put_event(&mut b.buf, typ, delta, args);
        if let Some(m) = msg {
            // EvUserLog's message follows the length-prefixed part.
            let m = truncate(m);
            put_varint(&mut b.buf, m.len() as u64);
            b.buf.extend_from_slice(m.as_bytes());
        }
    }

    /// The whole file: header, batches, footer, tables.
    pub(super) fn finish(&self) -> Vec<u8> {
        let mut out = b"go 1.19 trace\0\0\0".to_vec();
        for (&p, b) in &self.batches {
            out.push(EV_BATCH | 1 << 6);
            put_varint(&mut out, p as u64);
            put_varint(&mut out, b.first);
            out.extend_from_slice(&b.buf);
        }
        out.push(EV_FREQUENCY);
        put_varint(&mut out, FREQUENCY);
        // ReadTrace's last buffer: the tables, in a batch of their own.
        out.push(EV_BATCH | 1 << 6);
        put_varint(&mut out, 0);
        put_varint(&mut out, self.last_ts.unwrap_or(0));
        for (i, s) in self.string_list.iter().enumerate() {
            let s = truncate(s);
            out.push(EV_STRING);
            put_varint(&mut out, i as u64 + 1);
            put_varint(&mut out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        for (i, f) in self.stack_list.iter().enumerate() {
            let id = i as u64 + 1;
            let mut body = Vec::new();
            for v in [id, 1, PC_BASE + 0x10 * id, f.func, f.file, f.line] {
                put_varint(&mut body, v);
            }
            out.push(EV_STACK | 3 << 6);
            put_varint(&mut out, body.len() as u64);
            out.extend_from_slice(&body);
        }
        out
    }
}

/// `traceEventLocked`'s encoding of an event with a timestamp delta:
/// the type byte carries the argument count (capped at 3); three or
/// more arguments take the length-prefixed form.
fn put_event(buf: &mut Vec<u8>, typ: u8, delta: u64, args: &[u64]) {
    let n = args.len().min(3) as u8;
    buf.push(typ | n << 6);
    if args.len() < 3 {
        put_varint(buf, delta);
        for &a in args {
            put_varint(buf, a);
        }
    } else {
        let mut body = Vec::new();
        put_varint(&mut body, delta);
        for &a in args {
            put_varint(&mut body, a);
        }
        put_varint(buf, body.len() as u64);
        buf.extend_from_slice(&body);
    }
}

/// Unsigned LEB128 (`traceAppend`).
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// `s` cut to the parser's string limit, on a character boundary.
fn truncate(s: &str) -> &str {
    if s.len() <= MAX_STRING {
        return s;
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// (batch P, type, absolute ts, args) of every timestamped event.
    /// (batch P, type, absolute ts, args) of every timestamped event.
    pub(crate) type Decoded = Vec<(i64, u8, u64, Vec<u64>)>;

    pub(crate) fn decode(data: &[u8]) -> Decoded {
        fn val(d: &[u8], i: &mut usize) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = d[*i];
                *i += 1;
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        }
        assert_eq!(&data[..16], b"go 1.19 trace\0\0\0");
        let (mut i, mut p, mut last, mut evs) = (16, 0i64, 0u64, Vec::new());
        while i < data.len() {
            let (typ, n) = (data[i] & 0x3f, data[i] >> 6);
            i += 1;
            match typ {
                EV_BATCH => {
                    p = val(data, &mut i) as i64;
                    last = val(data, &mut i);
                }
                EV_FREQUENCY => assert_eq!(val(data, &mut i), FREQUENCY),
                EV_STRING => {
                    val(data, &mut i);
                    i += val(data, &mut i) as usize;
                }
                EV_STACK => i += val(data, &mut i) as usize,
                _ => {
                    let mut args = Vec::new();
                    if n < 3 {
                        for _ in 0..=n {
                            args.push(val(data, &mut i));
                        }
                    } else {
                        let end = val(data, &mut i) as usize + i;
                        while i < end {
                            args.push(val(data, &mut i));
                        }
                    }
                    if typ == EV_USER_LOG {
                        i += val(data, &mut i) as usize;
                    }
                    last += args.remove(0);
                    evs.push((p, typ, last, args));
                }
            }
        }
        evs
    }

    #[test]
    fn varints_are_leb128_and_p_minus_one_is_its_bit_pattern() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        b.clear();
        put_varint(&mut b, -1i64 as u64);
        assert_eq!(b.len(), 10);
        b.clear();
        put_event(&mut b, EV_GO_UNBLOCK, 5, &[7, 2, 0]);
        assert_eq!(b, [EV_GO_UNBLOCK | 3 << 6, 4, 5, 7, 2, 0]);
    }
}
