//! gort-benches: the criterion benchmarks live in `benches/` and the
//! profiling harnesses in `examples/`; this library holds what they share
//! (and what the `gctree` demo and the gctrace comparison with Go share with
//! them: gobench's tree heap).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gort::{Config, Runtime};

/// Runs `body` as the main goroutine of a fresh runtime with `GOMAXPROCS =
/// procs` and returns the duration it measured itself (so runtime start-up
/// and teardown stay outside the measurement).
pub fn gort_run<F>(procs: usize, body: F) -> Duration
where
    F: FnOnce() -> Duration + Send + 'static,
{
    gort_run_cfg(Config::new().gomaxprocs(procs), body)
}

/// `gort_run` on a runtime built from `cfg` (the tracer on, say).
pub fn gort_run_cfg<F>(cfg: Config, body: F) -> Duration
where
    F: FnOnce() -> Duration + Send + 'static,
{
    let out = Arc::new(Mutex::new(None));
    let slot = out.clone();
    let exit = Runtime::new(cfg).run(move || {
        *slot.lock().unwrap() = Some(body());
    });
    assert_eq!(exit.status, 0, "gort run failed: {exit:?}");
    let d = out.lock().unwrap().take();
    d.expect("main goroutine did not report a duration")
}

/// gobench's `benchPingPong`: two unbuffered channels, main sends i on
/// c1, the other goroutine receives it and sends it back on c2; the
/// channel benches, the tracer's bench and the `pingpongperf` harness.
pub mod pingpong {
    use std::time::{Duration, Instant};

    use gort::Chan;

    /// `n` round trips on gort; must run on a goroutine.
    pub fn gort(n: u64) -> Duration {
        let (c1, c2): (Chan<u64>, Chan<u64>) = (Chan::new(0), Chan::new(0));
        let (r1, r2) = (c1.clone(), c2.clone());
        gort::go!(move || {
            for _ in 0..n {
                let v = r1.recv().unwrap();
                r2.send(v);
            }
        });
        let t0 = Instant::now();
        let mut s = 0u64;
        for i in 0..n {
            c1.send(i);
            s = s.wrapping_add(c2.recv().unwrap());
        }
        let d = t0.elapsed();
        std::hint::black_box(s);
        d
    }

    /// The same program on two OS threads with rendezvous channels
    /// (`sync_channel(0)`, Go's unbuffered channel).
    pub fn std_threads(n: u64) -> Duration {
        let (tx1, rx1) = std::sync::mpsc::sync_channel::<u64>(0);
        let (tx2, rx2) = std::sync::mpsc::sync_channel::<u64>(0);
        let h = std::thread::spawn(move || {
            for _ in 0..n {
                let v = rx1.recv().unwrap();
                tx2.send(v).unwrap();
            }
        });
        let t0 = Instant::now();
        let mut s = 0u64;
        for i in 0..n {
            tx1.send(i).unwrap();
            s = s.wrapping_add(rx2.recv().unwrap());
        }
        let d = t0.elapsed();
        h.join().unwrap();
        std::hint::black_box(s);
        d
    }
}

/// The map workloads of `../shared/bench-anchor/gobench.go`, shared by the
/// map benches and the `mapperf` profiling harness.
pub mod workload {
    /// gobench `splitmix64`.
    pub fn splitmix64(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// gobench's fixed shuffle: a xorshift Fisher-Yates from a fixed seed.
    pub fn shuffle<T>(v: &mut [T]) {
        let mut s: u64 = 0x2545_F491_4F6C_DD1D;
        for i in (1..v.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v.swap(i, (s % (i as u64 + 1)) as usize);
        }
    }

    /// gobench `keySet`: the keys `splitmix64(i) >> 1`, the misses
    /// `splitmix64(i + 2^40) | 1 << 63` (never present), and the keys
    /// shuffled.
    pub struct Keys {
        pub keys: Vec<i64>,
        pub miss: Vec<i64>,
        pub perm: Vec<i64>,
    }

    /// gobench `makeKeys`.
    pub fn make_keys(n: usize) -> Keys {
        let keys: Vec<i64> = (0..n as u64).map(|i| (splitmix64(i) >> 1) as i64).collect();
        let miss = (0..n as u64)
            .map(|i| (splitmix64(i + (1 << 40)) | (1 << 63)) as i64)
            .collect();
        let mut perm = keys.clone();
        shuffle(&mut perm);
        Keys { keys, miss, perm }
    }
}

/// gobench's `gc tree` heap (`../shared/bench-anchor/gobench.go`): a
/// complete binary tree of nodes `{left, right, val}`. One builder for the
/// mark bench, the `markperf` harness, the `gctree` demo and the gctrace
/// comparison with Go, so that they all measure and show the same heap.
pub mod tree {
    use gort::{new_object, Map, Ptr, Type};

    /// The node type, `struct { left, right *node; val int }`, named as
    /// gctrace-adjacent reports show it. Each call registers a new type.
    pub fn node_type() -> &'static Type {
        Type::new("main.node", 3, &[0, 1])
    }

    /// A complete tree of `depth` levels (`2^depth - 1` nodes); each
    /// node's `val` is its depth, so `count` can tell a node that lost
    /// its contents. Recursive: `depth` is at most a few dozen.
    pub fn build(ty: &'static Type, depth: u32) -> Ptr {
        let n = new_object(ty);
        n.store(2, u64::from(depth));
        if depth > 1 {
            n.store_ptr(0, build(ty, depth - 1));
            n.store_ptr(1, build(ty, depth - 1));
        }
        n
    }

    /// The number of nodes under `p` (a tree built with `depth` levels),
    /// checking each node's `val`.
    ///
    /// # Panics
    /// If a node's `val` is not its depth: the collector lost or reused it.
    pub fn count(p: Ptr, depth: u32) -> u64 {
        if p.is_nil() {
            return 0;
        }
        assert_eq!(p.load(2), u64::from(depth), "a node lost its value");
        1 + count(p.load_ptr(0), depth - 1) + count(p.load_ptr(1), depth - 1)
    }

    /// gobench's `gc concurrent` heap beside the tree: visits the tree from
    /// `root` depth-first (right child first, as gobench's explicit stack
    /// does), inserting node `i` of the walk into `all` under key `i`, and
    /// returns the first `first` nodes of the walk (gobench's `gNodes`).
    pub fn map_every_node(root: Ptr, all: &Map<Ptr>, first: usize) -> Vec<Ptr> {
        let mut nodes = Vec::with_capacity(first);
        let mut stack = vec![root];
        let mut i = 0i64;
        while let Some(n) = stack.pop() {
            all.insert(i, n);
            i += 1;
            if nodes.len() < first {
                nodes.push(n);
            }
            for f in [1, 0] {
                let c = n.load_ptr(f);
                if !c.is_nil() {
                    stack.push(c);
                }
            }
        }
        nodes
    }

    /// `2^depth - 1`: the nodes `build` allocates.
    pub fn nodes(depth: u32) -> u64 {
        (1u64 << depth) - 1
    }
}
