//! The GC torture workload: seeded object-graph and map churn under
//! frequent collections, with every reachable object's payload checked.
//!
//! Each worker goroutine owns a graph of `churn.node` objects rooted in
//! a table (a heap object held by a `Root`), a `map[int64]*node` and a
//! `map[string]*node` (each held by a `Root`), and mutates them at random:
//! allocates, drops, and above all *moves* pointers — loads the only
//! reference to an object, clears it, yields (a stack scan may pass), then
//! stores it elsewhere: into a table slot, a field of another node, a
//! map, or the exchange table another worker takes it from. That is the
//! pattern a missing or broken write barrier loses objects to. The maps
//! are driven through growth and through same-size growth (insert/delete
//! at a fixed count piles up overflow buckets), and iterated with
//! iterators held open across yields while the maps change. A driver
//! goroutine calls `gc()` periodically and GOGC is small, so cycles start
//! while all of this runs.
//!
//! Every object carries a checkable payload: a node holds its id, a check
//! word derived from it and its owner; a blob (no pointers) holds words
//! derived from its id; every pointer slot is a pair (pointer, tag) whose
//! tag names the id (and kind) of the object the pointer must reach; a map
//! entry's key is its node's id. Workers check what they reach as they go
//! and walk everything they own periodically and at the end (after the
//! last collections). A lost object shows up as gort's fatal error
//! `access to freed object` (its slot swept), or as a payload mismatch
//! (its slot reused): the panic `churn: payload mismatch ...`.
//!
//! Only a node's owner writes its fields, so a check never races with a
//! writer; other workers' nodes (reached through the exchange) have their
//! immutable payload checked but are not descended into.
//!
//! `sweep` runs a seed range in-process (a fatal error ends only its own
//! runtime, with status 2) and reports each seed's outcome.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use gort::{gc, new_object, read_mem_stats, Config, Map, Ptr, Root, Runtime, StrMap, Type};

/// The GODEBUG value every torture run uses (before per-test extras):
/// the verifier at every mark termination.
pub fn godebug() -> String {
    "gccheckmark=1".to_string()
}

/// Workload and runtime settings.
#[derive(Clone, Debug)]
pub struct Params {
    /// GOMAXPROCS.
    pub procs: usize,
    /// Deterministic mode (the seed is `simseed`); else parallel mode.
    pub det: bool,
    pub workers: usize,
    /// Operations per worker.
    pub ops: usize,
    /// Pointer slots of a worker's table.
    pub slots: usize,
    /// GOGC (None: off).
    pub gogc: Option<u32>,
    /// The driver's explicit `gc()` every this many of its yields.
    pub gc_every: usize,
    /// Keys each map is kept near (growth and same-size growth).
    pub map_keys: usize,
    /// Nodes of a long-lived list each worker keeps (a longer mark).
    pub ballast: usize,
    /// Move pointers between locations across yields (the lost-object
    /// pattern); off only while there is no write barrier.
    pub moves: bool,
    /// Let the maps grow and same-size grow (evacuation moves pointers
    /// from old buckets to new ones, which the write barrier covers); off
    /// only while there is none: the maps are then made with room to
    /// spare and kept at a fixed count.
    pub map_growth: bool,
    /// Collect only with the workers stopped: the driver's `gc()` runs
    /// while it holds a lock every worker operation takes for reading
    /// (use with GOGC off). For while there is no write barrier (no
    /// mutation during a mark); it still exercises allocation, sweeping,
    /// marking and the scan of parked goroutines' stacks.
    pub quiesce: bool,
    /// Extra GODEBUG items (comma-separated), after `godebug()`.
    pub extra_godebug: String,
    /// A run taking longer than this is reported as `Other`.
    pub timeout: Duration,
    /// Seeds run side by side (each an in-process runtime on its thread).
    pub threads: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            procs: 2,
            det: true,
            workers: 3,
            ops: 160,
            slots: 24,
            gogc: Some(10),
            gc_every: 40,
            map_keys: 48,
            ballast: 1_000,
            moves: true,
            map_growth: true,
            quiesce: false,
            extra_godebug: String::new(),
            timeout: Duration::from_secs(120),
            threads: 2,
        }
    }
}

/// The runtime configuration of one run: `GODEBUG` = `godebug()`, the
/// seed (deterministic mode) and `p.extra_godebug`; GOMAXPROCS and GOGC
/// from `p`; output captured.
pub fn config(seed: u64, p: &Params) -> Config {
    let mut items: Vec<String> = Vec::new();
    let base = godebug();
    if !base.is_empty() {
        items.push(base);
    }
    if p.det {
        items.push(format!("simseed={seed}"));
    }
    if !p.extra_godebug.is_empty() {
        items.push(p.extra_godebug.clone());
    }
    let dbg = items.join(",");
    let procs = p.procs.to_string();
    let gogc = p.gogc.map_or("off".to_string(), |g| g.to_string());
    Config::from_vars(|k| match k {
        "GODEBUG" => Some(dbg.clone()),
        "GOMAXPROCS" => Some(procs.clone()),
        "GOGC" => Some(gogc.clone()),
        _ => None,
    })
    .capture_output()
}

/// Hash maps with a fixed hasher: the workload runs on goroutine stacks,
/// which the collector scans conservatively, so even the path a hash
/// lookup takes must not vary between runs of one seed (`RandomState`
/// keys differ per process and per map).
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<DefaultHasher>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<DefaultHasher>>;

// ---------------------------------------------------------------------
// Object layouts and payloads.

/// Node words: id, check, owner, then three (pointer, tag) pairs.
const N_ID: usize = 0;
const N_CHECK: usize = 1;
const N_OWNER: usize = 2;
const N_FIELDS: [usize; 3] = [3, 5, 7];
const NODE_WORDS: usize = 9;
/// Blob words (no pointers): each derived from the blob's id.
const BLOB_WORDS: usize = 6;
/// A tag's kind bit: the pointer reaches a blob, not a node.
const KIND_BLOB: u64 = 1 << 62;
/// Slots of the large table a worker sometimes moves its graph to
/// (over 32 KiB: a large-object span of its own).
const BIG_SLOTS: usize = 2_100;
const EXCHANGE_SLOTS: usize = 8;

fn node_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("churn.node", NODE_WORDS, &N_FIELDS))
}

fn blob_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("churn.blob", BLOB_WORDS, &[]))
}

/// A table of `slots` (pointer, tag) pairs. One lock-free cell per size
/// the workload uses (a process-wide lock taken on a goroutine would leave
/// contention-dependent words on its stack for the conservative scan).
fn table_type(slots: usize) -> &'static Type {
    static T: [OnceLock<(usize, &'static Type)>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let make = || {
        let ptrs: Vec<usize> = (0..slots).map(|i| 2 * i).collect();
        (slots, Type::new("churn.table", 2 * slots, &ptrs))
    };
    let cell = match slots {
        EXCHANGE_SLOTS => &T[0],
        BIG_SLOTS => &T[1],
        _ => &T[2],
    };
    let (n, t) = *cell.get_or_init(make);
    assert_eq!(
        n, slots,
        "churn: one table size besides the exchange and the big table"
    );
    t
}

fn check_of(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995_a5a5_0f0f
}

fn blob_word(id: u64, w: usize) -> u64 {
    check_of(id ^ ((w as u64 + 1) << 48))
}

fn key_str(id: u64) -> String {
    format!("n{id:x}")
}

/// The panic a payload mismatch is reported with (`sweep` looks for it).
pub const MISMATCH: &str = "churn: payload mismatch";

#[track_caller]
fn mismatch(what: std::fmt::Arguments<'_>) -> ! {
    panic!("{MISMATCH}: {what}")
}

/// Checks that `p` reaches the object `tag` names (nil for tag 0), reading
/// its immutable payload. Returns whether it is a node owned by `me`.
#[track_caller]
fn check_target(p: Ptr, tag: u64, me: u64, at: &str) -> bool {
    if tag == 0 {
        if !p.is_nil() {
            mismatch(format_args!("{at}: pointer {p:?} with a nil tag"));
        }
        return false;
    }
    if p.is_nil() {
        mismatch(format_args!("{at}: nil pointer with tag {tag:#x}"));
    }
    let id = tag & !KIND_BLOB;
    if tag & KIND_BLOB != 0 {
        for w in 0..BLOB_WORDS {
            let v = p.load(w);
            if v != blob_word(id, w) {
                mismatch(format_args!(
                    "{at}: blob {id:#x} word {w} is {v:#x}, want {:#x}",
                    blob_word(id, w)
                ));
            }
        }
        return false;
    }
    let got = p.load(N_ID);
    let check = p.load(N_CHECK);
    if got != id || check != check_of(id) {
        mismatch(format_args!(
            "{at}: node {id:#x} reads id {got:#x} check {check:#x}"
        ));
    }
    p.load(N_OWNER) == me
}

// ---------------------------------------------------------------------
// Locations: where a (pointer, tag) pair lives.

/// A pair of words of a heap object: pointer word `w`, tag word `w + 1`.
#[derive(Clone, Copy)]
struct Loc {
    obj: Ptr,
    w: usize,
}

impl Loc {
    fn get(self) -> (Ptr, u64) {
        (self.obj.load_ptr(self.w), self.obj.load(self.w + 1))
    }
    fn set(self, p: Ptr, tag: u64) {
        self.obj.store_ptr(self.w, p);
        self.obj.store(self.w + 1, tag);
    }
}

/// A set of keys with O(1) random pick and removal.
#[derive(Default)]
struct KeySet {
    v: Vec<u64>,
    at: HashMap<u64, usize>,
}

impl KeySet {
    fn insert(&mut self, k: u64) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.at.entry(k) {
            e.insert(self.v.len());
            self.v.push(k);
        }
    }
    fn remove(&mut self, k: u64) {
        if let Some(i) = self.at.remove(&k) {
            self.v.swap_remove(i);
            if i < self.v.len() {
                self.at.insert(self.v[i], i);
            }
        }
    }
    fn pick(&self, r: u64) -> Option<u64> {
        (!self.v.is_empty()).then(|| self.v[(r % self.v.len() as u64) as usize])
    }
    fn len(&self) -> usize {
        self.v.len()
    }
}

/// What workers share: the exchange table (written only under the lock),
/// the number of workers still running, the driver's stop flag.
struct Shared {
    exchange: Root,
    lock: gort::Mutex,
    /// Held for reading by each worker operation, for writing by the
    /// driver's collections (`Params::quiesce`).
    world: gort::RWMutex,
    running: AtomicUsize,
    stop: AtomicBool,
}

/// One worker goroutine's state (the Rust side holds ids, never addresses).
struct Worker {
    me: u64,
    rng: u64,
    next_id: u64,
    p: Params,
    table: Root,
    slots: usize,
    imap: Map<Ptr>,
    _imap_root: Root,
    ikeys: KeySet,
    smap: StrMap<Ptr>,
    _smap_root: Root,
    skeys: KeySet,
    shared: Arc<Shared>,
    moved: u64,
    iterated: u64,
}

impl Worker {
    fn rand(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n.max(1)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.rand(one_in) == 0
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        (self.me << 40) | self.next_id
    }

    fn new_node(&mut self) -> (Ptr, u64) {
        let id = self.fresh_id();
        let p = new_object(node_type());
        p.store(N_ID, id);
        p.store(N_CHECK, check_of(id));
        p.store(N_OWNER, self.me);
        (p, id)
    }

    fn new_blob(&mut self) -> (Ptr, u64) {
        let id = self.fresh_id();
        let p = new_object(blob_type());
        for w in 0..BLOB_WORDS {
            p.store(w, blob_word(id, w));
        }
        (p, id | KIND_BLOB)
    }

    /// A fresh node with some fresh children.
    fn new_subgraph(&mut self) -> (Ptr, u64) {
        let (n, id) = self.new_node();
        for f in N_FIELDS {
            match self.rand(4) {
                0 => {
                    let (c, t) = self.new_blob();
                    Loc { obj: n, w: f }.set(c, t);
                }
                1 => {
                    let (c, t) = self.new_node();
                    Loc { obj: n, w: f }.set(c, t);
                }
                _ => {}
            }
        }
        (n, id)
    }

    fn table_loc(&mut self) -> Loc {
        let i = self.rand(self.slots as u64) as usize;
        Loc {
            obj: self.table.load(),
            w: 2 * i,
        }
    }

    /// A random location this worker may write: a table slot, or a field
    /// of one of its own nodes found by a short walk from one.
    fn random_loc(&mut self) -> Loc {
        let mut loc = self.table_loc();
        let depth = self.rand(4);
        for _ in 0..depth {
            let (p, tag) = loc.get();
            if tag == 0 || tag & KIND_BLOB != 0 {
                break;
            }
            if !check_target(p, tag, self.me, "walk") {
                break;
            }
            let f = N_FIELDS[self.rand(3) as usize];
            loc = Loc { obj: p, w: f };
        }
        loc
    }

    /// A random non-empty location (a few tries), for a move's source.
    fn random_full_loc(&mut self) -> Option<Loc> {
        for _ in 0..6 {
            let l = self.random_loc();
            if l.get().1 != 0 {
                return Some(l);
            }
        }
        None
    }

    /// Yields a few times, maybe allocating garbage meanwhile (which may
    /// start a cycle or assist one).
    fn pause(&mut self) {
        for _ in 0..1 + self.rand(3) {
            if self.chance(3) {
                let n = 4 + self.rand(24) as usize;
                self.garbage(n);
            }
            gort::gosched();
        }
    }

    /// A chain of `n` unreachable objects.
    fn garbage(&mut self, n: usize) {
        let mut head = Ptr::NIL;
        for _ in 0..n {
            let (p, _) = self.new_node();
            p.store_ptr(N_FIELDS[0], head);
            head = p;
        }
        std::hint::black_box(head);
    }

    /// The lost-object pattern: the only reference moves from `src` to the
    /// stack, is cleared, the goroutine yields, and it is stored at `dst`.
    fn op_move(&mut self) {
        let Some(src) = self.random_full_loc() else {
            return;
        };
        let (p, tag) = src.get();
        check_target(p, tag, self.me, "move source");
        src.set(Ptr::NIL, 0);
        self.pause();
        check_target(p, tag, self.me, "moved object after a yield");
        let dst = self.random_loc();
        dst.set(p, tag);
        self.moved += 1;
    }

    fn op_alloc(&mut self) {
        let (n, id) = self.new_subgraph();
        let dst = self.random_loc();
        dst.set(n, id);
    }

    fn op_drop(&mut self) {
        let l = self.random_loc();
        l.set(Ptr::NIL, 0);
    }

    /// Through the exchange table to another worker (or back to self).
    fn op_exchange(&mut self) {
        let shared = self.shared.clone();
        let i = 2 * self.rand(EXCHANGE_SLOTS as u64) as usize;
        if self.chance(2) {
            // Put: a subgraph root from the table.
            let src = self.table_loc();
            let (p, tag) = src.get();
            if tag == 0 {
                return;
            }
            src.set(Ptr::NIL, 0);
            self.pause();
            shared.lock.lock();
            let ex = Loc {
                obj: shared.exchange.load(),
                w: i,
            };
            ex.set(p, tag);
            shared.lock.unlock();
        } else {
            // Take.
            shared.lock.lock();
            let ex = Loc {
                obj: shared.exchange.load(),
                w: i,
            };
            let (p, tag) = ex.get();
            ex.set(Ptr::NIL, 0);
            shared.lock.unlock();
            if tag == 0 {
                return;
            }
            self.pause();
            check_target(p, tag, self.me, "taken from the exchange");
            let dst = self.table_loc();
            dst.set(p, tag);
        }
        self.moved += 1;
    }

    /// Moves the table to a new one (sometimes a large object), slot by
    /// slot across yields.
    fn op_retable(&mut self) {
        let slots = if self.chance(3) {
            BIG_SLOTS
        } else {
            self.p.slots
        };
        let new = new_object(table_type(slots));
        let old = self.table.load();
        let n = self.slots.min(slots);
        for i in 0..self.slots {
            let (p, tag) = Loc { obj: old, w: 2 * i }.get();
            if i < n {
                Loc { obj: new, w: 2 * i }.set(p, tag);
            }
            if i % 8 == 7 {
                gort::gosched();
            }
        }
        self.table.store(new);
        self.slots = slots;
        std::hint::black_box(old);
    }

    // --- map[int64]*node ---

    fn imap_insert_fresh(&mut self) {
        let (n, id) = self.new_subgraph();
        self.imap.insert(id as i64, n);
        self.ikeys.insert(id);
    }

    fn imap_check(&mut self, k: u64, at: &str) -> Ptr {
        match self.imap.get(k as i64) {
            Some(v) => {
                check_target(v, k, self.me, at);
                v
            }
            None => mismatch(format_args!("{at}: key {k:#x} missing from the int map")),
        }
    }

    fn imap_delete_random(&mut self) {
        let r = self.rand(u64::MAX);
        if let Some(k) = self.ikeys.pick(r) {
            self.imap.delete(k as i64);
            self.ikeys.remove(k);
        }
    }

    /// Map entry to the stack, deleted, yield, into the graph; or a
    /// graph node into the map.
    fn imap_move(&mut self) {
        if self.chance(2) {
            let r = self.rand(u64::MAX);
            let Some(k) = self.ikeys.pick(r) else { return };
            let v = self.imap_check(k, "int map move source");
            self.imap.delete(k as i64);
            self.ikeys.remove(k);
            self.pause();
            check_target(v, k, self.me, "int map entry after a yield");
            let dst = self.random_loc();
            dst.set(v, k);
        } else {
            let src = self.table_loc();
            let (p, tag) = src.get();
            if tag == 0 || tag & KIND_BLOB != 0 || !check_target(p, tag, self.me, "to int map") {
                return;
            }
            src.set(Ptr::NIL, 0);
            self.pause();
            self.imap.insert(tag as i64, p);
            self.ikeys.insert(tag);
        }
        self.moved += 1;
    }

    // --- map[string]*node ---

    fn smap_insert_fresh(&mut self) {
        let (n, id) = self.new_subgraph();
        self.smap.insert(&key_str(id), n);
        self.skeys.insert(id);
    }

    fn smap_check(&mut self, k: u64, at: &str) -> Ptr {
        match self.smap.get(&key_str(k)) {
            Some(v) => {
                check_target(v, k, self.me, at);
                v
            }
            None => mismatch(format_args!("{at}: key {k:#x} missing from the string map")),
        }
    }

    fn smap_delete_random(&mut self) {
        let r = self.rand(u64::MAX);
        if let Some(k) = self.skeys.pick(r) {
            self.smap.delete(&key_str(k));
            self.skeys.remove(k);
        }
    }

    fn smap_move(&mut self) {
        let r = self.rand(u64::MAX);
        let Some(k) = self.skeys.pick(r) else { return };
        let v = self.smap_check(k, "string map move source");
        self.smap.delete(&key_str(k));
        self.skeys.remove(k);
        self.pause();
        check_target(v, k, self.me, "string map entry after a yield");
        if self.chance(2) {
            self.imap.insert(k as i64, v);
            self.ikeys.insert(k);
        } else {
            let dst = self.random_loc();
            dst.set(v, k);
        }
        self.moved += 1;
    }

    /// Keeps both maps near `map_keys` entries: grows them when below,
    /// otherwise deletes and inserts at a fixed count (overflow buckets
    /// pile up until a same-size grow).
    fn map_churn(&mut self) {
        let target = self.p.map_keys;
        if !self.p.map_growth {
            // Never more than `target` entries in maps sized for 8 times
            // that: no growth, and overflow buckets too rare to make a
            // same-size grow.
            for _ in 0..4 {
                if self.ikeys.len() < target {
                    self.imap_insert_fresh();
                } else {
                    self.imap_delete_random();
                }
                if self.skeys.len() < target {
                    self.smap_insert_fresh();
                } else {
                    self.smap_delete_random();
                }
            }
            return;
        }
        for _ in 0..4 {
            if self.ikeys.len() < target || self.chance(2) {
                self.imap_insert_fresh();
            }
            if self.ikeys.len() > target / 2 {
                self.imap_delete_random();
            }
            if self.skeys.len() < target || self.chance(2) {
                self.smap_insert_fresh();
            }
            if self.skeys.len() > target / 2 {
                self.smap_delete_random();
            }
        }
    }

    /// Whether a map of `len` entries may take one more.
    fn room(&self, len: usize) -> bool {
        self.p.map_growth || len < self.p.map_keys
    }

    /// Iterates a map with the iterator open across yields, the map
    /// changing meanwhile: every entry seen is checked, none twice.
    fn iterate(&mut self) {
        let mut seen = HashSet::default();
        if self.chance(2) {
            // Open across the yields below, while the map changes.
            let it = self.imap.iter();
            let mut i = 0u64;
            for (k, v) in it {
                let k = k as u64;
                if !seen.insert(k) {
                    mismatch(format_args!("int map iteration produced {k:#x} twice"));
                }
                check_target(v, k, self.me, "int map iteration");
                i += 1;
                if i.is_multiple_of(5) {
                    if self.chance(2) && self.room(self.ikeys.len()) {
                        self.imap_insert_fresh();
                    } else {
                        self.imap_delete_random();
                    }
                    self.pause();
                }
            }
        } else {
            let it = self.smap.iter();
            let mut i = 0u64;
            for (k, v) in it {
                let ks = k.to_string_lossy();
                let Some(id) = ks
                    .strip_prefix('n')
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                else {
                    mismatch(format_args!("string map key {ks:?} is not a node key"));
                };
                if !seen.insert(id) {
                    mismatch(format_args!("string map iteration produced {ks:?} twice"));
                }
                check_target(v, id, self.me, "string map iteration");
                i += 1;
                if i.is_multiple_of(5) {
                    if self.chance(2) && self.room(self.skeys.len()) {
                        self.smap_insert_fresh();
                    } else {
                        self.smap_delete_random();
                    }
                    self.pause();
                }
            }
        }
        self.iterated += seen.len() as u64;
    }

    /// Walks everything this worker owns and checks every payload; also
    /// that each map holds exactly the keys it should.
    fn verify(&mut self, at: &str) {
        let mut seen: HashSet<usize> = HashSet::default();
        // Own nodes only, reached from the table: their fields are written
        // by this goroutine alone, so nothing changes under the walk.
        let mut stack: Vec<Ptr> = Vec::new();
        let table = self.table.load();
        for i in 0..self.slots {
            let (p, tag) = Loc {
                obj: table,
                w: 2 * i,
            }
            .get();
            if check_target(p, tag, self.me, at) && seen.insert(p.0) {
                stack.push(p);
            }
        }
        while let Some(n) = stack.pop() {
            for f in N_FIELDS {
                let (p, tag) = Loc { obj: n, w: f }.get();
                if check_target(p, tag, self.me, at) && seen.insert(p.0) {
                    stack.push(p);
                }
            }
        }
        if self.imap.len() != self.ikeys.len() {
            mismatch(format_args!(
                "{at}: int map has {} entries, want {}",
                self.imap.len(),
                self.ikeys.len()
            ));
        }
        for k in self.ikeys.v.clone() {
            self.imap_check(k, at);
        }
        if self.smap.len() != self.skeys.len() {
            mismatch(format_args!(
                "{at}: string map has {} entries, want {}",
                self.smap.len(),
                self.skeys.len()
            ));
        }
        for k in self.skeys.v.clone() {
            self.smap_check(k, at);
        }
    }

    fn step(&mut self, i: usize) {
        let moves = self.p.moves;
        match self.rand(20) {
            0..=3 => self.op_alloc(),
            4..=6 if moves => self.op_move(),
            4..=6 => self.op_alloc(),
            7 => self.op_drop(),
            8 => {
                let n = 8 + self.rand(40) as usize;
                self.garbage(n)
            }
            9 if moves => self.op_exchange(),
            10..=11 => self.map_churn(),
            12..=13 if moves => self.imap_move(),
            14 if moves => self.smap_move(),
            12..=14 => self.map_churn(),
            15 => self.iterate(),
            16 if self.chance(8) => self.op_retable(),
            17 if !self.p.quiesce && self.chance(10) => gc(),
            _ => self.pause(),
        }
        if i % 50 == 49 {
            self.verify("periodic check");
        }
    }
}

/// The tag of the node a ballast root holds (0 for none).
fn ballast_tag(r: &Root) -> u64 {
    let p = r.load();
    if p.is_nil() {
        0
    } else {
        p.load(N_ID)
    }
}

/// A worker: its graph, maps and operations; `done` reports it finished
/// its operations, `go_on` lets it make its last check after the final
/// collections.
fn worker(me: u64, seed: u64, p: Params, shared: Arc<Shared>) -> (u64, u64) {
    let table = Root::new(new_object(table_type(p.slots)));
    let (imap, smap): (Map<Ptr>, StrMap<Ptr>) = if p.map_growth {
        (Map::new(), StrMap::new())
    } else {
        (
            Map::with_hint(8 * p.map_keys),
            StrMap::with_hint(8 * p.map_keys),
        )
    };
    let mut w = Worker {
        me,
        rng: (seed ^ (me << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        next_id: 0,
        slots: p.slots,
        table,
        _imap_root: Root::new(imap.hmap().0),
        imap,
        ikeys: KeySet::default(),
        _smap_root: Root::new(smap.hmap().0),
        smap,
        skeys: KeySet::default(),
        shared,
        moved: 0,
        iterated: 0,
        p,
    };
    // The ballast: a list only the collector walks.
    let ballast = Root::new(Ptr::NIL);
    for _ in 0..w.p.ballast {
        let (n, id) = w.new_node();
        Loc {
            obj: n,
            w: N_FIELDS[0],
        }
        .set(ballast.load(), ballast_tag(&ballast));
        std::hint::black_box(id);
        ballast.store(n);
    }
    let shared = w.shared.clone();
    for i in 0..w.p.ops {
        if w.p.quiesce {
            shared.world.rlock();
        }
        w.step(i);
        if w.p.quiesce {
            shared.world.runlock();
        }
    }
    w.verify("check at the end");
    // The ballast's payloads.
    let mut n = ballast.load();
    let mut count = 0;
    while !n.is_nil() {
        let (next, tag) = Loc {
            obj: n,
            w: N_FIELDS[0],
        }
        .get();
        check_target(next, tag, me, "ballast");
        n = next;
        count += 1;
    }
    assert_eq!(count, w.p.ballast, "ballast length");
    (w.moved, w.iterated)
}

/// The workload, as a program's main: workers, a collecting driver, the
/// final collections and checks. Prints a summary on stdout.
pub fn churn_main(seed: u64, p: Params) {
    let shared = Arc::new(Shared {
        exchange: Root::new(new_object(table_type(EXCHANGE_SLOTS))),
        lock: gort::Mutex::new(),
        world: gort::RWMutex::new(),
        running: AtomicUsize::new(p.workers),
        stop: AtomicBool::new(false),
    });
    let results: Arc<StdMutex<Vec<(u64, u64)>>> = Arc::default();
    let wg = Arc::new(gort::WaitGroup::new());
    for me in 1..=p.workers as u64 {
        wg.add(1);
        let (p, shared, wg, results) = (p.clone(), shared.clone(), wg.clone(), results.clone());
        gort::go!(move || {
            let r = worker(me, seed, p, shared.clone());
            results.lock().unwrap().push(r);
            shared.running.fetch_sub(1, Ordering::AcqRel);
            wg.done();
        });
    }
    // The driver: explicit collections while the workers run.
    wg.add(1);
    {
        let (shared, wg, every) = (shared.clone(), wg.clone(), p.gc_every.max(1));
        let quiesce = p.quiesce;
        gort::go!(move || {
            let mut n = 0usize;
            while shared.running.load(Ordering::Acquire) > 0 {
                n += 1;
                if n.is_multiple_of(every) {
                    if quiesce {
                        shared.world.lock();
                        gc();
                        shared.world.unlock();
                    } else {
                        gc();
                    }
                }
                gort::gosched();
            }
            wg.done();
        });
    }
    wg.wait();
    gc();
    gc();
    // The exchange's last contents, after the final collections.
    let ex = shared.exchange.load();
    for i in 0..EXCHANGE_SLOTS {
        let (q, tag) = Loc { obj: ex, w: 2 * i }.get();
        check_target(q, tag, 0, "exchange at the end");
    }
    let r = results.lock().unwrap().clone();
    let moved: u64 = r.iter().map(|x| x.0).sum();
    let iterated: u64 = r.iter().map(|x| x.1).sum();
    let st = read_mem_stats();
    gort::println!(
        "churn seed {seed}: {} cycles, {} objects allocated, {} freed, {moved} moves, {iterated} entries iterated",
        st.num_gc,
        st.mallocs,
        st.frees
    );
}

// ---------------------------------------------------------------------
// Running seeds.

/// How one seed's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0; the number of collections that ran.
    Ok { cycles: u64 },
    /// A reachable object was lost: the fatal error or mismatch report.
    Lost(String),
    /// Anything else (another fatal error, a panic, a timeout).
    Other(String),
}

/// One seed's run: its outcome and everything it printed.
#[derive(Clone, Debug)]
pub struct Run {
    pub seed: u64,
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Whether a report is a lost object: freed while reachable (its slot
/// swept or reused), or caught by the checkmark verifier.
pub fn is_loss(stderr: &str) -> bool {
    stderr.contains("access to freed object")
        || stderr.contains(MISMATCH)
        || stderr.contains("checkmark found unmarked object")
}

/// The first lines of a report, enough to show in a failure.
pub fn head(s: &str, lines: usize) -> String {
    s.lines().take(lines).collect::<Vec<_>>().join("\n")
}

/// Makes the workload's types (process-wide, made on first use) on the
/// calling thread, before any runtime: made on a goroutine, the first
/// run in the process would leave other stale words on its stacks than
/// later runs, and the conservative scan would keep other objects.
pub fn make_types(p: &Params) {
    node_type();
    blob_type();
    for n in [p.slots, BIG_SLOTS, EXCHANGE_SLOTS] {
        table_type(n);
    }
    <Ptr as gort::MapElem>::map_type();
    <Ptr as gort::MapElem>::str_map_type();
}

/// Runs the workload once on a runtime configured for `seed`.
pub fn run_seed(seed: u64, p: &Params) -> Run {
    make_types(p);
    run_program(seed, config(seed, p), p.timeout, {
        let p = p.clone();
        move || churn_main(seed, p)
    })
}

/// Runs `main` on a runtime built from `cfg` and classifies how it ended.
pub fn run_program(
    seed: u64,
    cfg: Config,
    timeout: Duration,
    main: impl FnOnce() + Send + 'static,
) -> Run {
    let rt = Runtime::new(cfg);
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel();
    let rt2 = rt.clone();
    std::thread::spawn(move || {
        let _ = tx.send(rt2.run(main));
    });
    let exit = rx.recv_timeout(timeout);
    let elapsed = t0.elapsed();
    let (stdout, stderr) = (rt.stdout(), rt.stderr());
    let outcome = match exit {
        Err(_) => Outcome::Other(format!("no exit within {timeout:?}")),
        Ok(e) if e.status == 0 => Outcome::Ok {
            cycles: stdout
                .split(" cycles")
                .next()
                .and_then(|s| s.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        },
        Ok(_) if is_loss(&stderr) => {
            // The first lines, and the verifier's path line, which comes
            // after its dump of the objects.
            let mut t = head(&stderr, 8);
            if let Some(path) = stderr
                .lines()
                .skip(8)
                .find(|l| l.starts_with("runtime: checkmark path:"))
            {
                t.push_str("\n...\n");
                t.push_str(path);
            }
            Outcome::Lost(t)
        }
        Ok(e) => Outcome::Other(format!("exit status {}: {}", e.status, head(&stderr, 8))),
    };
    Run {
        seed,
        outcome,
        stdout,
        stderr,
        elapsed,
    }
}

/// The outcome of a seed range.
#[derive(Debug, Default)]
pub struct Report {
    pub runs: Vec<Run>,
    pub elapsed: Duration,
}

impl Report {
    pub fn lost(&self) -> Vec<&Run> {
        self.runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Lost(_)))
            .collect()
    }
    pub fn other(&self) -> Vec<&Run> {
        self.runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Other(_)))
            .collect()
    }
    pub fn cycles(&self) -> u64 {
        self.runs
            .iter()
            .map(|r| match r.outcome {
                Outcome::Ok { cycles } => cycles,
                _ => 0,
            })
            .sum()
    }

    /// One line per seed that did not end well, and the totals.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for r in self.runs.iter() {
            match &r.outcome {
                Outcome::Ok { .. } => {}
                Outcome::Lost(t) => s.push_str(&format!("seed {}: LOST\n{t}\n", r.seed)),
                Outcome::Other(t) => s.push_str(&format!("seed {}: other: {t}\n", r.seed)),
            }
        }
        s.push_str(&format!(
            "{} seeds in {:.1?}: {} ok, {} lost, {} other; {} collections in the ok runs\n",
            self.runs.len(),
            self.elapsed,
            self.runs.len() - self.lost().len() - self.other().len(),
            self.lost().len(),
            self.other().len(),
            self.cycles()
        ));
        s
    }
}

/// Runs `seeds` (`p.threads` at a time, each in-process on its own
/// runtime: a fatal error ends only that seed's run) with `extra_godebug`
/// added to `p`'s, and reports each seed's outcome in seed order.
pub fn sweep(seeds: std::ops::Range<u64>, extra_godebug: &str, params: &Params) -> Report {
    let mut p = params.clone();
    if !extra_godebug.is_empty() {
        p.extra_godebug = if p.extra_godebug.is_empty() {
            extra_godebug.to_string()
        } else {
            format!("{},{extra_godebug}", p.extra_godebug)
        };
    }
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let all: Vec<u64> = seeds.collect();
    let runs: Arc<StdMutex<Vec<Run>>> = Arc::default();
    let threads: Vec<_> = (0..p.threads.max(1))
        .map(|_| {
            let (next, all, runs, p) = (next.clone(), all.clone(), runs.clone(), p.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = all.get(i) else { break };
                let r = run_seed(seed, &p);
                runs.lock().unwrap().push(r);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sweep thread");
    }
    let mut runs = std::mem::take(&mut *runs.lock().unwrap());
    runs.sort_by_key(|r| r.seed);
    Report {
        runs,
        elapsed: t0.elapsed(),
    }
}

/// The seed range from `GORT_SEEDS` (`a..b`, or a count `n` for `0..n`),
/// else `default`.
pub fn seeds_from_env(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(v) = std::env::var("GORT_SEEDS") else {
        return default;
    };
    let parse = |s: &str| {
        s.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("GORT_SEEDS={v:?}: want a..b or n"))
    };
    match v.split_once("..") {
        Some((a, b)) => parse(a)..parse(b),
        None => 0..parse(&v),
    }
}

/// Seeds run side by side, from `GORT_SWEEP_THREADS`, else `default`.
pub fn threads_from_env(default: usize) -> usize {
    std::env::var("GORT_SWEEP_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
