//! Tests of the settings: every variable's parsing, defaults and warning texts,
//! matched against Go 1.19's readings.

use super::godebug::{Kind, Owner, DEBUG_VARS};
use super::*;

fn env(gomaxprocs: Option<&str>, godebug: Option<&str>) -> Config {
    Config::from_vars(|name| match name {
        "GOMAXPROCS" => gomaxprocs.map(str::to_string),
        "GODEBUG" => godebug.map(str::to_string),
        _ => None,
    })
}

fn gotraceback(v: &str) -> Config {
    Config::from_vars(|name| (name == "GOTRACEBACK").then(|| v.to_string()))
}

#[test]
fn gotraceback_levels_follow_go() {
    let t = |v: &str| {
        let cfg = gotraceback(v);
        assert!(cfg.warnings().is_empty(), "{v}: {:?}", cfg.warnings());
        let t = cfg.sched().traceback;
        (t.level, t.all, t.crash)
    };
    assert_eq!(t("none"), (0, false, false));
    assert_eq!(t("single"), (1, false, false));
    assert_eq!(t(""), (1, false, false));
    assert_eq!(t("all"), (1, true, false));
    assert_eq!(t("system"), (2, true, false));
    assert_eq!(t("crash"), (2, true, true));
    // Go's numeric form: that level, with every goroutine.
    assert_eq!(t("0"), (0, true, false));
    assert_eq!(t("1"), (1, true, false));
    assert_eq!(t("2"), (2, true, false));
    // Unset: Go's default, single.
    let d = Config::from_vars(|_| None).sched().traceback;
    assert_eq!((d.level, d.all, d.crash), (1, false, false));
}

#[test]
fn malformed_gotraceback_warns_once_and_prints_nothing_like_go() {
    for v in ["bogus", "-1", "ALL"] {
        let cfg = gotraceback(v);
        assert_eq!(cfg.warnings().len(), 1, "{v}: {:?}", cfg.warnings());
        assert!(
            cfg.warnings()[0].starts_with(&format!("gort: GOTRACEBACK={v:?} is not")),
            "{:?}",
            cfg.warnings()
        );
        let t = cfg.sched().traceback;
        assert_eq!((t.level, t.all, t.crash), (0, true, false), "{v}");
    }
}

fn godebug(v: &str) -> Config {
    env(None, Some(v))
}

fn ncpu() -> usize {
    SchedConfig::default().gomaxprocs
}

fn det(cfg: &Config) -> DetConfig {
    match cfg.sched().mode {
        Mode::Deterministic(d) => d,
        Mode::Parallel => panic!("expected deterministic mode"),
    }
}

#[test]
fn defaults() {
    let cfg = env(None, None);
    let s = cfg.sched();
    assert_eq!(s.gomaxprocs, ncpu());
    assert_eq!(s.schedtrace_ms, 0);
    assert!(!s.scheddetail);
    assert_eq!(s.mode, Mode::Parallel);
    assert!(matches!(s.output, Output::Process));
    assert!(cfg.warnings().is_empty());
    assert!(cfg.captured().is_none());
    // An empty GODEBUG is simply unset.
    assert!(godebug("").warnings().is_empty());
}

#[test]
fn gomaxprocs_valid() {
    for (v, n) in [("1", 1), ("4", 4), ("007", 7), ("2147483647", 2147483647)] {
        let cfg = env(Some(v), None);
        assert_eq!(cfg.sched().gomaxprocs, n, "GOMAXPROCS={v}");
        assert!(cfg.warnings().is_empty(), "GOMAXPROCS={v}");
    }
}

#[test]
fn gomaxprocs_malformed() {
    for v in ["abc", "0", "-3", "", "1.5", " 4", "+4", "-", "4x"] {
        let cfg = env(Some(v), None);
        assert_eq!(cfg.sched().gomaxprocs, ncpu(), "GOMAXPROCS={v:?}");
        assert_eq!(
            cfg.warnings(),
            [format!(
                "gort: GOMAXPROCS={v:?} is not a positive integer; using the default, {}",
                ncpu()
            )]
        );
    }
    for v in ["2147483648", "99999999999999999999999999999999999999999999"] {
        let cfg = env(Some(v), None);
        assert_eq!(cfg.sched().gomaxprocs, ncpu());
        assert_eq!(
            cfg.warnings(),
            [format!(
                "gort: GOMAXPROCS=\"{v}\" is too large (at most 2147483647); using the default, {}",
                ncpu()
            )]
        );
    }
}

#[test]
fn gomaxprocs_warning_text() {
    let cfg = env(Some("abc"), None).gomaxprocs(3);
    assert_eq!(
        cfg.warnings()[0],
        format!(
            "gort: GOMAXPROCS=\"abc\" is not a positive integer; using the default, {}",
            ncpu()
        )
    );
}

#[test]
fn schedtrace_and_scheddetail() {
    let cfg = godebug("schedtrace=1000,scheddetail=1");
    let s = cfg.sched();
    assert_eq!(s.schedtrace_ms, 1000);
    assert!(s.scheddetail);
    assert!(cfg.warnings().is_empty());

    let s = godebug("schedtrace=0,scheddetail=0").sched();
    assert_eq!(s.schedtrace_ms, 0);
    assert!(!s.scheddetail);

    // Go: any nonzero scheddetail is on; later items override earlier.
    assert!(godebug("scheddetail=-2").sched().scheddetail);
    assert_eq!(
        godebug("schedtrace=5,schedtrace=7").sched().schedtrace_ms,
        7
    );
    // Stray commas are ignored silently.
    let cfg = godebug(",,schedtrace=10,,");
    assert_eq!(cfg.sched().schedtrace_ms, 10);
    assert!(cfg.warnings().is_empty());
}

#[test]
fn schedtrace_malformed() {
    let cfg = godebug("schedtrace=-1");
    assert_eq!(cfg.sched().schedtrace_ms, 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG schedtrace=\"-1\" is not a non-negative integer; using 0 (off)"]
    );

    let cfg = godebug("schedtrace=abc");
    assert_eq!(cfg.sched().schedtrace_ms, 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG schedtrace=\"abc\" is not a non-negative integer; using 0 (off)"]
    );

    // A malformed value resets to the default, as the warning says.
    let cfg = godebug("schedtrace=100,schedtrace=");
    assert_eq!(cfg.sched().schedtrace_ms, 0);
    assert_eq!(cfg.warnings().len(), 1);

    let cfg = godebug("schedtrace=99999999999");
    assert_eq!(cfg.sched().schedtrace_ms, 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG schedtrace=\"99999999999\" is too large (at most 2147483647); using 0 (off)"]
    );

    let cfg = godebug("schedtrace");
    assert_eq!(cfg.sched().schedtrace_ms, 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG item \"schedtrace\" has no value (expected schedtrace=N); using 0 (off)"]
    );

    let cfg = godebug("scheddetail=yes");
    assert!(!cfg.sched().scheddetail);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG scheddetail=\"yes\" is not an integer; using 0 (off)"]
    );
}

#[test]
fn simseed_enables_deterministic_mode() {
    let cfg = godebug("simseed=42");
    assert!(cfg.warnings().is_empty());
    assert_eq!(det(&cfg), DetConfig::with_seed(42));

    let cfg = godebug("simseed=18446744073709551615");
    assert_eq!(det(&cfg).seed, u64::MAX);

    let cfg = godebug("simseed=x");
    assert_eq!(cfg.sched().mode, Mode::Parallel);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG simseed=\"x\" is not a non-negative integer; using none (parallel mode)"]
    );

    let cfg = godebug("simseed=18446744073709551616");
    assert_eq!(cfg.sched().mode, Mode::Parallel);
    assert_eq!(cfg.warnings().len(), 1);
    assert!(cfg.warnings()[0].contains("too large"));
}

#[test]
fn simswitch_simpreempt_reach_detconfig() {
    // Order does not matter: simseed may come last.
    let cfg = godebug("simswitch=3,simpreempt=0,simseed=7");
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
    let d = det(&cfg);
    assert_eq!(d.seed, 7);
    assert_eq!(d.switch_every, 3);
    assert_eq!(d.preempt_every, 0);
    assert_eq!(d.step_ns, DetConfig::with_seed(7).step_ns);

    let cfg = godebug("simseed=1,simswitch=0,simpreempt=-1");
    let d = det(&cfg);
    assert_eq!(d.switch_every, DetConfig::with_seed(1).switch_every);
    assert_eq!(d.preempt_every, DetConfig::with_seed(1).preempt_every);
    // The defaults the warnings name are DetConfig's, whatever they are.
    let dflt = DetConfig::with_seed(0);
    assert_eq!(
        cfg.warnings(),
        [
            format!(
                "gort: GODEBUG simswitch=\"0\" is not an integer >= 1; using {}",
                dflt.switch_every
            ),
            format!(
                "gort: GODEBUG simpreempt=\"-1\" is not a non-negative integer; using {}",
                dflt.preempt_every
            ),
        ]
    );
}

#[test]
fn simswitch_without_simseed_warns() {
    let cfg = godebug("simswitch=4");
    assert_eq!(cfg.sched().mode, Mode::Parallel);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG simswitch has no effect without simseed (deterministic mode); ignored"]
    );

    let cfg = godebug("simpreempt=4,simpreempt=5");
    assert_eq!(cfg.warnings().len(), 1);

    // One problem, one warning: a bad simswitch or a bad simseed is
    // reported for itself only.
    assert_eq!(godebug("simswitch=x").warnings().len(), 1);
    assert_eq!(godebug("simseed=x,simswitch=4").warnings().len(), 1);
}

#[test]
fn unknown_key() {
    let cfg = godebug("foo=1");
    assert_eq!(
        cfg.warnings(),
        ["gort: unknown GODEBUG key \"foo\"; ignored (gort's keys: simseed, simswitch, simpreempt, simtrace, wbmode, gcscanold)"]
    );
    // Go does not trim: " schedtrace" is another key.
    let cfg = godebug("schedtrace=5, schedtrace=10");
    assert_eq!(cfg.sched().schedtrace_ms, 5);
    assert_eq!(cfg.warnings().len(), 1);
    assert!(cfg.warnings()[0].starts_with("gort: unknown GODEBUG key \" schedtrace\""));
    // An item without '=' is classified by its key all the same.
    assert_eq!(godebug("foo").warnings().len(), 1);
    assert!(godebug("foo").warnings()[0].starts_with("gort: unknown GODEBUG key \"foo\""));
}

#[test]
fn go_key_not_simulated() {
    let cfg = godebug("gcpacertrace=1");
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG key \"gcpacertrace\" is a Go setting gort does not simulate yet; ignored"]
    );
    for key in [
        "madvdontneed",
        "memprofilerate",
        "http2client",
        "x509sha1",
        "netdns",
        "cpu.avx2",
    ] {
        let cfg = godebug(&format!("{key}=1"));
        assert_eq!(
            cfg.warnings(),
            [format!(
                "gort: GODEBUG key {key:?} is a Go setting gort does not simulate yet; ignored"
            )]
        );
    }
}

#[test]
fn simtrace_takes_a_writable_file_of_a_known_format() {
    let dir = std::env::temp_dir().join(format!("gort-simtrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = dir.join("run.trace");
    let cfg = godebug(&format!("simtrace={}", ok.display()));
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
    assert_eq!(cfg.trace_path(), Some(ok.as_path()));
    let bad = dir.join("no/such/dir/run.trace");
    let cfg = godebug(&format!("simtrace={}", bad.display()));
    assert_eq!(cfg.trace_path(), None);
    assert_eq!(cfg.warnings().len(), 1);
    assert!(
        cfg.warnings()[0].starts_with(&format!(
            "gort: GODEBUG simtrace={}: cannot write the trace to {}: ",
            bad.display(),
            bad.display()
        )) && cfg.warnings()[0].ends_with("; not tracing"),
        "{:?}",
        cfg.warnings()
    );
    let cfg = godebug("simtrace=run.txt");
    assert!(
        cfg.warnings()[0].contains("run.txt: unknown trace format"),
        "{:?}",
        cfg.warnings()
    );
    assert_eq!(
        godebug("simtrace").warnings(),
        ["gort: GODEBUG simtrace needs a file, as in simtrace=run.trace; ignored"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn warnings_in_order_one_per_problem() {
    let cfg = env(
        Some("x"),
        Some("gcpacertrace=1,foo=2,schedtrace=-1,wbmode=of,scheddetail=1"),
    );
    let w = cfg.warnings();
    assert_eq!(w.len(), 5, "{w:?}");
    assert!(w[0].starts_with("gort: GOMAXPROCS="));
    assert!(w[1].contains("\"gcpacertrace\""));
    assert!(w[2].contains("\"foo\""));
    assert!(w[3].contains("schedtrace=\"-1\""));
    assert!(w[4].contains("wbmode=\"of\""));
    assert!(cfg.sched().scheddetail);
}

fn gogc(v: &str) -> Config {
    Config::from_vars(|name| (name == "GOGC").then(|| v.to_string()))
}

#[test]
fn gogc_follows_go() {
    let g = |v: &str| {
        let cfg = gogc(v);
        assert!(
            cfg.warnings().is_empty(),
            "GOGC={v:?}: {:?}",
            cfg.warnings()
        );
        cfg.gogc_value()
    };
    assert_eq!(Config::from_vars(|_| None).gogc_value(), Some(100));
    assert_eq!(g("100"), Some(100));
    assert_eq!(g("50"), Some(50));
    assert_eq!(g("0"), Some(0));
    assert_eq!(g("-0"), Some(0));
    assert_eq!(g("0042"), Some(42));
    assert_eq!(g("2147483647"), Some(2147483647));
    assert_eq!(g("off"), None);
    // Go: setGCPercent turns any negative percentage into -1, off
    // (checked with Go 1.19.8: GOGC=-1 prints the GOGC=off goal).
    assert_eq!(g("-1"), None);
    assert_eq!(g("-2147483648"), None);
    // Go: gogetenv returns "" for unset and empty alike.
    assert_eq!(g(""), Some(100));
}

#[test]
fn gogc_malformed_warns_once() {
    for v in [
        "abc", "OFF", "Off", " 50", "50 ", "+50", "1.5", "--1", "5x", "1e3",
    ] {
        let cfg = gogc(v);
        assert_eq!(cfg.gogc_value(), Some(100), "GOGC={v:?}");
        assert_eq!(
            cfg.warnings(),
            [format!(
                "gort: GOGC={v:?} is not a number or \"off\"; using the default, 100"
            )]
        );
    }
    // Outside int32, Go's atoi32 fails and 100 stays, whatever the sign.
    let cfg = gogc("2147483648");
    assert_eq!(cfg.gogc_value(), Some(100));
    assert_eq!(
        cfg.warnings(),
        ["gort: GOGC=\"2147483648\" is too large (at most 2147483647); using the default, 100"]
    );
    let cfg = gogc("-2147483649");
    assert_eq!(cfg.gogc_value(), Some(100));
    assert_eq!(
        cfg.warnings(),
        ["gort: GOGC=\"-2147483649\" is too small (at least -2147483648); using the default, 100"]
    );
    let cfg = gogc("99999999999999999999999999999999999999999999");
    assert_eq!(cfg.gogc_value(), Some(100));
    assert!(
        cfg.warnings()[0].contains("too large"),
        "{:?}",
        cfg.warnings()
    );
    let cfg = gogc("-99999999999999999999999999999999999999999999");
    assert_eq!(cfg.gogc_value(), Some(100));
    assert!(
        cfg.warnings()[0].contains("too small"),
        "{:?}",
        cfg.warnings()
    );
    // Go's atoi64 reads a lone "-" as 0: GOGC=- collects constantly.
    let cfg = gogc("-");
    assert_eq!(cfg.gogc_value(), Some(0));
    assert_eq!(
        cfg.warnings(),
        ["gort: GOGC=\"-\" is not a number or \"off\"; like Go 1.19, whose atoi reads a lone \"-\" as 0, using 0"]
    );
}

#[test]
fn gctrace_parsing() {
    assert_eq!(Config::new().gctrace_value(), 0);
    let cfg = godebug("gctrace=1");
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
    assert_eq!(cfg.gctrace_value(), 1);
    assert_eq!(godebug("gctrace=2").gctrace_value(), 2);
    assert_eq!(godebug("gctrace=1,gctrace=0").gctrace_value(), 0);
    assert_eq!(godebug("schedtrace=5,gctrace=1").sched().schedtrace_ms, 5);

    let cfg = godebug("gctrace=yes");
    assert_eq!(cfg.gctrace_value(), 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG gctrace=\"yes\" is not a non-negative integer; using 0 (off)"]
    );
    // A malformed value resets to the default, as the warning says.
    let cfg = godebug("gctrace=1,gctrace=-1");
    assert_eq!(cfg.gctrace_value(), 0);
    assert_eq!(cfg.warnings().len(), 1);
    let cfg = godebug("gctrace=2147483648");
    assert_eq!(cfg.gctrace_value(), 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG gctrace=\"2147483648\" is too large (at most 2147483647); using 0 (off)"]
    );
    let cfg = godebug("gctrace");
    assert_eq!(cfg.gctrace_value(), 0);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG item \"gctrace\" has no value (expected gctrace=N); using 0 (off)"]
    );
}

#[test]
fn gc_verification_keys() {
    let cfg = Config::new();
    assert!(!cfg.gccheckmark_value() && cfg.gcscanold_value());
    assert_eq!(cfg.gcstoptheworld_value(), 0);
    let cfg = godebug("gccheckmark=1,gcscanold=0,gcstoptheworld=2");
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
    assert!(cfg.gccheckmark_value() && !cfg.gcscanold_value());
    assert_eq!(cfg.gcstoptheworld_value(), 2);
    // Go's test is `debug.gccheckmark > 0`.
    assert!(godebug("gccheckmark=7").gccheckmark_value());
    assert!(!godebug("gccheckmark=1,gccheckmark=0").gccheckmark_value());
    assert!(godebug("gcscanold=0,gcscanold=1").gcscanold_value());
    assert_eq!(godebug("gcstoptheworld=1").gcstoptheworld_value(), 1);
}

#[test]
fn gc_verification_keys_malformed() {
    let cases: [(&str, &str); 7] = [
        (
            "gccheckmark=yes",
            "gort: GODEBUG gccheckmark=\"yes\" is not a non-negative integer; using 0 (off)",
        ),
        (
            "gccheckmark",
            "gort: GODEBUG item \"gccheckmark\" has no value (expected gccheckmark=N); using 0 (off)",
        ),
        (
            "gcscanold=2",
            "gort: GODEBUG gcscanold=\"2\" is too large (at most 1); using 1 (scanned)",
        ),
        (
            "gcscanold=off",
            "gort: GODEBUG gcscanold=\"off\" is not 0 or 1; using 1 (scanned)",
        ),
        (
            "gcstoptheworld=3",
            "gort: GODEBUG gcstoptheworld=\"3\" is too large (at most 2); using 0 (off)",
        ),
        (
            "gcstoptheworld=-1",
            "gort: GODEBUG gcstoptheworld=\"-1\" is not 0, 1 or 2; using 0 (off)",
        ),
        (
            "gcstoptheworld=",
            "gort: GODEBUG gcstoptheworld=\"\" is not 0, 1 or 2; using 0 (off)",
        ),
    ];
    for (v, warning) in cases {
        let cfg = godebug(&format!("gccheckmark=1,gcscanold=0,gcstoptheworld=1,{v}"));
        assert_eq!(cfg.warnings(), [warning], "{v}");
        // The malformed key falls back to its default; the others stand.
        let key = v.split('=').next().unwrap();
        assert_eq!(cfg.gccheckmark_value(), key != "gccheckmark", "{v}");
        assert_eq!(cfg.gcscanold_value(), key == "gcscanold", "{v}");
        assert_eq!(
            cfg.gcstoptheworld_value(),
            if key == "gcstoptheworld" { 0 } else { 1 },
            "{v}"
        );
    }
}

#[test]
fn gc_verification_builder() {
    let cfg = godebug("gccheckmark=1,gcscanold=0,gcstoptheworld=1")
        .gccheckmark(false)
        .gcscanold(true)
        .gcstoptheworld(2);
    assert!(!cfg.gccheckmark_value() && cfg.gcscanold_value());
    assert_eq!(cfg.gcstoptheworld_value(), 2);
}

#[test]
#[should_panic(expected = "Config::gcstoptheworld(3): 0, 1 or 2")]
fn builder_gcstoptheworld_beyond_2_panics() {
    let _ = Config::new().gcstoptheworld(3);
}

#[test]
fn gc_settings_builder() {
    let cfg = Config::from_vars(|name| match name {
        "GOGC" => Some("off".to_string()),
        "GODEBUG" => Some("gctrace=1".to_string()),
        _ => None,
    });
    assert_eq!((cfg.gogc_value(), cfg.gctrace_value()), (None, 1));
    let cfg = cfg.gogc(Some(200)).gctrace(0);
    assert_eq!((cfg.gogc_value(), cfg.gctrace_value()), (Some(200), 0));
    assert_eq!(Config::new().gogc(None).gogc_value(), None);
    assert_eq!(Config::new().gogc(Some(0)).gogc_value(), Some(0));
    // GOGC problems come after GOMAXPROCS, GODEBUG and GOTRACEBACK.
    let cfg = Config::from_vars(|name| match name {
        "GOGC" => Some("x".to_string()),
        "GOMAXPROCS" => Some("y".to_string()),
        _ => None,
    });
    assert_eq!(cfg.warnings().len(), 2);
    assert!(cfg.warnings()[0].starts_with("gort: GOMAXPROCS="));
    assert!(cfg.warnings()[1].starts_with("gort: GOGC="));
}

#[test]
#[should_panic(expected = "gogc(Some(2147483648))")]
fn builder_gogc_beyond_int32_panics() {
    let _ = Config::new().gogc(Some(1 << 31));
}

#[test]
fn builder_overrides_env() {
    let cfg = env(Some("3"), Some("schedtrace=10,simseed=5,simswitch=2"))
        .gomaxprocs(6)
        .schedtrace(250)
        .scheddetail(true)
        .simseed(9)
        .simpreempt(11);
    let s = cfg.sched();
    assert_eq!(s.gomaxprocs, 6);
    assert_eq!(s.schedtrace_ms, 250);
    assert!(s.scheddetail);
    let d = det(&cfg);
    assert_eq!((d.seed, d.switch_every, d.preempt_every), (9, 2, 11));

    // gomaxprocs(0) leaves the value unchanged, like runtime.GOMAXPROCS(0).
    assert_eq!(
        Config::new().gomaxprocs(2).gomaxprocs(0).sched().gomaxprocs,
        2
    );
    // simswitch before simseed applies once simseed is set.
    let d = det(&Config::new().simswitch(1).simseed(3));
    assert_eq!((d.seed, d.switch_every), (3, 1));
    assert_eq!(Config::new().simswitch(1).sched().mode, Mode::Parallel);
}

#[test]
#[should_panic(expected = "simswitch(0)")]
fn builder_simswitch_zero_panics() {
    let _ = Config::new().simswitch(0);
}

#[test]
fn capture_output() {
    let cfg = Config::new().capture_output();
    let cap = cfg.captured().expect("captured");
    cfg.sched().output.write_stderr(b"hello");
    cfg.sched().output.write_stdout(b"out");
    assert_eq!(&*cap.stderr.lock().unwrap(), b"hello");
    assert_eq!(&*cap.stdout.lock().unwrap(), b"out");
    // Each call makes fresh buffers.
    let other = cfg.clone().capture_output().captured().expect("captured");
    assert!(!Arc::ptr_eq(&cap, &other));
}

#[test]
fn atoi_follows_go() {
    assert_eq!(atoi("0", 0, 10), Ok(0));
    assert_eq!(atoi("-0", 0, 10), Ok(0));
    assert_eq!(atoi("-5", -10, 10), Ok(-5));
    assert_eq!(atoi("+5", 0, 10), Err(AtoiError::Invalid));
    assert_eq!(atoi("-", -10, 10), Err(AtoiError::Invalid));
    assert_eq!(atoi("11", 0, 10), Err(AtoiError::TooLarge));
    assert_eq!(atoi("-11", 0, 10), Err(AtoiError::Invalid));
    assert_eq!(atoi("5 ", 0, 10), Err(AtoiError::Invalid));
}

#[test]
fn godebug_table_is_consistent() {
    // One row per key, each documented.
    for (i, v) in DEBUG_VARS.iter().enumerate() {
        assert!(!v.doc.is_empty(), "{} has no doc line", v.name);
        assert!(
            DEBUG_VARS[i + 1..].iter().all(|w| w.name != v.name),
            "{} is listed twice",
            v.name
        );
        // Reserved keys are gort's; keys gort does not simulate are Go's.
        match v.kind {
            Kind::NotSimulated => assert_eq!(v.owner, Owner::Go, "{}", v.name),
            Kind::Int { .. } | Kind::Choice { .. } | Kind::Path { .. } => {}
        }
    }
    // The unknown-key warning lists gort's keys from the table.
    assert_eq!(
        super::godebug::gort_keys(),
        "simseed, simswitch, simpreempt, simtrace, wbmode, gcscanold"
    );
    // Every implemented key parses its value without a warning.
    for v in DEBUG_VARS {
        if let Kind::Int { min, .. } = v.kind {
            let cfg = godebug(&format!("simseed=1,{}={}", v.name, min.max(1)));
            assert!(
                cfg.warnings().is_empty(),
                "{}: {:?}",
                v.name,
                cfg.warnings()
            );
        }
    }
}

fn gorace(v: &str) -> Config {
    Config::from_vars(|name| (name == "GORACE").then(|| v.to_string()))
}

const GORACE_NOTE: &str =
    "gort: GORACE has no effect without the race detector (GORT_RACE=1, gort's stand-in for go build -race)";

#[test]
fn gorace_defaults_follow_go() {
    let r = Config::new().race_options().clone();
    assert_eq!(r, RaceOptions::default());
    assert_eq!(
        (
            r.log_path.as_str(),
            r.exitcode,
            r.strip_path_prefix.as_str(),
            r.history_size,
            r.halt_on_error,
            r.atexit_sleep_ms
        ),
        ("stderr", 66, "", 0, false, 1000)
    );
    // Unset and empty alike: no warning.
    assert!(Config::from_vars(|_| None).warnings().is_empty());
    assert!(gorace("").warnings().is_empty());
}

#[test]
fn gorace_options_are_parsed_and_said_to_have_no_effect() {
    let cfg = gorace(
        "halt_on_error=1 history_size=7  exitcode=13 log_path=/tmp/race          strip_path_prefix=/src/ atexit_sleep_ms=0",
    );
    assert_eq!(cfg.warnings(), [GORACE_NOTE]);
    let r = cfg.race_options();
    assert!(r.halt_on_error);
    assert_eq!(r.history_size, 7);
    assert_eq!(r.exitcode, 13);
    assert_eq!(r.log_path, "/tmp/race");
    assert_eq!(r.strip_path_prefix, "/src/");
    assert_eq!(r.atexit_sleep_ms, 0);
    // Later items override earlier ones; the sanitizer's boolean words.
    let cfg = gorace("halt_on_error=true halt_on_error=no exitcode=-1");
    assert!(!cfg.race_options().halt_on_error);
    assert_eq!(cfg.race_options().exitcode, -1);
    assert_eq!(cfg.warnings(), [GORACE_NOTE]);
}

#[test]
fn gorace_problems_warn_once_each_and_use_the_default() {
    let cases: [(&str, &str); 8] = [
        (
            "history_size=8",
            "gort: GORACE history_size=\"8\" is not an integer from 0 to 7; using the default, 0",
        ),
        (
            "history_size=x",
            "gort: GORACE history_size=\"x\" is not an integer from 0 to 7; using the default, 0",
        ),
        (
            "exitcode=abc",
            "gort: GORACE exitcode=\"abc\" is not an integer; using the default, 66",
        ),
        (
            "atexit_sleep_ms=-5",
            "gort: GORACE atexit_sleep_ms=\"-5\" is not a non-negative integer; using the default, 1000",
        ),
        (
            "atexit_sleep_ms=4294967296",
            "gort: GORACE atexit_sleep_ms=\"4294967296\" is too large (at most 4294967295); using the default, 1000",
        ),
        (
            "halt_on_error=maybe",
            "gort: GORACE halt_on_error=\"maybe\" is not 0, 1, true, false, yes or no; using the default, 0",
        ),
        (
            "log_path=",
            "gort: GORACE log_path=\"\" is empty; using the default, stderr",
        ),
        (
            "halt_on_error",
            "gort: GORACE item \"halt_on_error\" has no value (expected halt_on_error=V); ignored",
        ),
    ];
    for (v, want) in cases {
        let cfg = gorace(v);
        assert_eq!(cfg.warnings(), [want, GORACE_NOTE], "GORACE={v:?}");
        assert_eq!(cfg.race_options(), &RaceOptions::default(), "GORACE={v:?}");
    }
    // A malformed value resets an earlier good one to the default.
    let cfg = gorace("exitcode=3 exitcode=x");
    assert_eq!(cfg.race_options().exitcode, 66);
    // An unknown option (tsan has more; gort knows Go's documented ones).
    let cfg = gorace("suppress_equal_stacks=0 exitcode=5");
    assert_eq!(
        cfg.warnings(),
        [
            "gort: unknown GORACE option \"suppress_equal_stacks\"; ignored (gort's options: \
             log_path, exitcode, strip_path_prefix, history_size, halt_on_error, atexit_sleep_ms)",
            GORACE_NOTE
        ]
    );
    assert_eq!(cfg.race_options().exitcode, 5);
    // GORACE's warnings come last, after GOGC's.
    let cfg = Config::from_vars(|name| match name {
        "GORACE" => Some("bogus=1".to_string()),
        "GOGC" => Some("x".to_string()),
        _ => None,
    });
    assert!(cfg.warnings()[0].starts_with("gort: GOGC="));
    assert!(cfg.warnings()[1].starts_with("gort: unknown GORACE option"));
    assert_eq!(cfg.warnings()[2], GORACE_NOTE);
}

#[test]
fn wbmode_parsing() {
    use gort_gc::WbMode;
    assert_eq!(Config::new().wbmode_value(), WbMode::Hybrid);
    for (v, m) in [
        ("hybrid", WbMode::Hybrid),
        ("dijkstra", WbMode::Dijkstra),
        ("yuasa", WbMode::Yuasa),
        ("off", WbMode::Off),
    ] {
        let cfg = godebug(&format!("wbmode={v}"));
        assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
        assert_eq!(cfg.wbmode_value(), m);
    }
    // Later items override earlier ones.
    assert_eq!(
        godebug("wbmode=off,wbmode=yuasa").wbmode_value(),
        WbMode::Yuasa
    );
    // An unknown value: one warning naming the values, Go's barrier kept.
    let cfg = godebug("wbmode=dijkstra,wbmode=steele");
    assert_eq!(cfg.wbmode_value(), WbMode::Hybrid);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG wbmode=\"steele\" is not one of hybrid, dijkstra, yuasa, off; using hybrid"]
    );
    let cfg = godebug("wbmode");
    assert_eq!(cfg.wbmode_value(), WbMode::Hybrid);
    assert_eq!(
        cfg.warnings(),
        ["gort: GODEBUG item \"wbmode\" has no value (expected wbmode=hybrid|dijkstra|yuasa|off); using hybrid"]
    );
    // The builder.
    assert_eq!(
        Config::new().wbmode(WbMode::Off).wbmode_value(),
        WbMode::Off
    );
}

#[test]
fn gort_race_turns_the_detector_on_and_says_so_for_a_bad_value() {
    let on = Config::from_vars(|n| (n == "GORT_RACE").then(|| "1".to_string()));
    assert!(on.race_enabled());
    assert!(on.warnings().is_empty());
    assert!(on.sched().race.is_some());
    let off = Config::from_vars(|n| (n == "GORT_RACE").then(|| "0".to_string()));
    assert!(!off.race_enabled() && off.sched().race.is_none());
    let bad = Config::from_vars(|n| (n == "GORT_RACE").then(|| "yes please".to_string()));
    assert!(!bad.race_enabled());
    assert_eq!(
        bad.warnings(),
        ["gort: GORT_RACE=\"yes please\" is not 1 or 0; the race detector stays off"]
    );
    // GORACE with the detector on: no "no effect" warning.
    let both = Config::from_vars(|n| match n {
        "GORT_RACE" => Some("1".to_string()),
        "GORACE" => Some("halt_on_error=1".to_string()),
        _ => None,
    });
    assert!(both.warnings().is_empty(), "{:?}", both.warnings());
    assert!(both.race_options().halt_on_error);
}
