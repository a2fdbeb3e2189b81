use gort::{go, Config, Map, Runtime, WaitGroup};
use std::sync::Arc;

#[test]
fn smoke() {
    let rt = Runtime::new(Config::new().gomaxprocs(2).race(true).capture_output());
    let exit = rt.run(|| {
        let m: Map<i64> = Map::new();
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let w2 = wg.clone();
        gort::go!(move || {
            m.insert(1, 1);
            w2.done();
        });
        m.insert(1, 2);
        wg.wait();
    });
    eprintln!("{}", rt.stderr());
    eprintln!("status {}", exit.status);
    let _ = go::<fn()>;
}
