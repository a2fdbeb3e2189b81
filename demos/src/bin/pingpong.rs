//! pingpong: gort's first demo. Goroutines that ping-pong a baton and
//! CPU-bound workers that idle Ps steal, watched through
//! `GODEBUG=schedtrace`.
//!
//! The Go program it mirrors:
//!
//! ```go
//! for i := 0; i < pairs; i++ {          // ping-pong pairs
//!     go func() { for r := 0; r < rounds; r++ { pong <- 1; <-ping } }()
//!     go func() { for r := 0; r < rounds; r++ { <-pong; ping <- 1 } }()
//! }
//! for i := 0; i < workers; i++ {        // all created on main's P,
//!     go func() { spin(5 * time.Millisecond) }()  // so idle Ps steal them
//! }
//! wg.Wait()
//! ```
//!
//! `ping` and `pong` are unbuffered channels (`gort::Chan::new(0)`), so
//! every hand-over parks one goroutine and readies the other into the
//! waker's `runnext`, as in Go.
//!
//! Usage: `pingpong [--pairs N] [--rounds N] [--workers N]`
//!        `pingpong --alive N`   N goroutines alive at once; prints peak RSS
//!        `pingpong --idle SECS` every goroutine asleep; prints CPU use
//! GODEBUG defaults to `schedtrace=100` when unset. `GODEBUG=simseed=N`
//! replays one interleaving exactly (times are then virtual).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::{Chan, Config, Runtime, WaitGroup};

struct Args {
    pairs: usize,
    rounds: usize,
    workers: usize,
    alive: Option<usize>,
    idle: Option<f64>,
}

fn usage(msg: &str) -> ! {
    eprintln!("pingpong: {msg}");
    eprintln!("usage: pingpong [--pairs N] [--rounds N] [--workers N] | --alive N | --idle SECS");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        pairs: 4,
        rounds: 200_000,
        workers: 32,
        alive: None,
        idle: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = |name: &str| -> String {
            it.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        let num = |name: &str, v: String| -> usize {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name}: {v:?} is not a non-negative integer")))
        };
        match flag.as_str() {
            "--pairs" => a.pairs = num("--pairs", val("--pairs")),
            "--rounds" => a.rounds = num("--rounds", val("--rounds")),
            "--workers" => a.workers = num("--workers", val("--workers")),
            "--alive" => a.alive = Some(num("--alive", val("--alive"))),
            "--idle" => {
                let v = val("--idle");
                a.idle = Some(
                    v.parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0)
                        .unwrap_or_else(|| {
                            usage(&format!(
                                "--idle: {v:?} is not a positive number of seconds"
                            ))
                        }),
                );
            }
            "-h" | "--help" => usage("ping-pong goroutines, stolen workers, schedtrace"),
            other => usage(&format!("unknown flag {other:?}")),
        }
    }
    a
}

fn main() {
    let args = parse_args();
    let mut cfg = Config::from_env();
    if std::env::var_os("GODEBUG").is_none() && args.alive.is_none() && args.idle.is_none() {
        cfg = cfg.schedtrace(100);
    }
    let rt = Runtime::new(cfg);
    let exit = match (args.alive, args.idle) {
        (Some(n), _) => rt.run(move || alive(n)),
        (None, Some(secs)) => rt.run(move || idle(secs)),
        _ => rt.run(move || pingpong(args.pairs, args.rounds, args.workers)),
    };
    std::process::exit(exit.status);
}

fn ms(ns: u64) -> String {
    format!("{:.1}ms", ns as f64 / 1e6)
}

fn pingpong(pairs: usize, rounds: usize, workers: usize) {
    let t0 = gort::nanotime();
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..pairs {
        let (ping, pong): (Chan<u8>, Chan<u8>) = (Chan::new(0), Chan::new(0));
        wg.add(2);
        let (a_ping, a_pong, a_wg) = (ping.clone(), pong.clone(), wg.clone());
        gort::go!(move || {
            for _ in 0..rounds {
                a_pong.send(1);
                a_ping.recv();
            }
            a_wg.done();
        });
        let wg = wg.clone();
        gort::go!(move || {
            for _ in 0..rounds {
                pong.recv();
                ping.send(1);
            }
            wg.done();
        });
    }
    wg.wait();
    let el = gort::nanotime() - t0;
    let trips = (pairs * rounds) as u64;
    gort::println!(
        "pingpong: {pairs} pairs x {rounds} round trips on GOMAXPROCS={}: {}, {} ns per round trip",
        gort::gomaxprocs(),
        ms(el),
        el.checked_div(trips).unwrap_or(0)
    );
    // Workers are all created on main's P; idle Ps take them by stealing.
    let t1 = gort::nanotime();
    let home = gort::rt::procid();
    let stolen = Arc::new(AtomicUsize::new(0));
    for _ in 0..workers {
        wg.add(1);
        let (wg, stolen) = (wg.clone(), stolen.clone());
        gort::go!(move || {
            if gort::rt::procid() != home {
                stolen.fetch_add(1, Ordering::Relaxed);
            }
            let start = gort::nanotime();
            while gort::nanotime() - start < 5_000_000 {
                gort::preempt_point();
            }
            wg.done();
        });
    }
    wg.wait();
    gort::println!(
        "workers: {workers} x 5ms of CPU created on P{home}, {} started on another P (stolen); {} in all",
        stolen.load(Ordering::Relaxed),
        ms(gort::nanotime() - t1)
    );
}

fn alive(n: usize) {
    let t0 = std::time::Instant::now();
    let start = Arc::new(WaitGroup::new());
    let finish = Arc::new(WaitGroup::new());
    let up = Arc::new(AtomicUsize::new(0));
    start.add(1);
    finish.add(n as i64);
    for _ in 0..n {
        let (start, finish, up) = (start.clone(), finish.clone(), up.clone());
        gort::go!(move || {
            up.fetch_add(1, Ordering::Relaxed);
            start.wait();
            finish.done();
        });
    }
    while up.load(Ordering::Relaxed) < n {
        gort::gosched();
    }
    let rss = peak_rss_kib();
    start.done();
    finish.wait();
    gort::println!(
        "alive: {n} goroutines alive at once, all completed in {:.2}s; peak RSS {} MiB ({} bytes per goroutine)",
        t0.elapsed().as_secs_f64(),
        rss / 1024,
        (rss * 1024).checked_div(n as u64).unwrap_or(0)
    );
}

fn idle(secs: f64) {
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..gort::gomaxprocs() * 4 {
        wg.add(1);
        let wg = wg.clone();
        gort::go!(move || {
            gort::sleep(Duration::from_secs_f64(secs));
            wg.done();
        });
    }
    let (cpu0, wall0) = (cpu_seconds(), std::time::Instant::now());
    wg.wait();
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    gort::println!(
        "idle: {:.2}s asleep on GOMAXPROCS={}: {:.3}s CPU, {:.2}% of one core",
        wall,
        gort::gomaxprocs(),
        cpu,
        100.0 * cpu / wall
    );
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer for RUSAGE_SELF.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
