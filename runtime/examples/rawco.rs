use corosensei::Coroutine;
use std::time::Instant;
fn main() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| loop {
        y.suspend(());
    });
    let n = 20_000_000;
    let t = Instant::now();
    for _ in 0..n {
        co.resume(());
    }
    eprintln!(
        "raw resume+suspend: {:.2} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let q = crossbeam_deque::Injector::new();
    let t = Instant::now();
    for i in 0..n {
        q.push(i);
        let _ = q.steal();
    }
    eprintln!(
        "injector push+steal: {:.2} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let a = std::sync::atomic::AtomicU64::new(0);
    let t = Instant::now();
    for i in 0..n {
        let _ = a.compare_exchange(
            i as u64,
            i as u64 + 1,
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    eprintln!("cas: {:.2} ns", t.elapsed().as_nanos() as f64 / n as f64);
    let m = std::sync::Mutex::new(std::collections::VecDeque::new());
    let t = Instant::now();
    for i in 0..n {
        m.lock().unwrap().push_back(i);
        let _ = m.lock().unwrap().pop_front();
    }
    eprintln!(
        "mutex vecdeque push+pop: {:.2} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
