use gort::{Config, Runtime, WaitGroup};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn hello_parallel() {
    let rt = Runtime::new(Config::new().gomaxprocs(2).capture_output());
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let e = rt.run(move || {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..1000 {
            wg.add(1);
            let wg = wg.clone();
            let n = n2.clone();
            gort::go!(move || {
                n.fetch_add(1, Ordering::Relaxed);
                gort::gosched();
                wg.done();
            });
        }
        wg.wait();
    });
    assert_eq!(e.status, 0, "{}", rt.stderr());
    assert_eq!(n.load(Ordering::Relaxed), 1000);
}

#[test]
fn hello_det() {
    let rt = Runtime::new(Config::new().gomaxprocs(2).simseed(1).capture_output());
    let e = rt.run(move || {
        let wg = Arc::new(WaitGroup::new());
        for i in 0..10 {
            wg.add(1);
            let wg = wg.clone();
            gort::go!(move || {
                gort::println!("g{i} on goid {}", gort::goid());
                gort::gosched();
                wg.done();
            });
        }
        wg.wait();
    });
    assert_eq!(e.status, 0, "{}", rt.stderr());
    println!("{}", rt.stdout());
}
