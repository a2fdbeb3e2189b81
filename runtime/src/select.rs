//! The `select!` macro: Go's `select` statement over gort channels.
//!
//! ```
//! use gort::{select, Chan, Config, Runtime};
//!
//! let exit = Runtime::new(Config::new().capture_output()).run(|| {
//!     let c1: Chan<i64> = Chan::new(1);
//!     let c2: Chan<&str> = Chan::new(0);
//!     c1.send(7);
//!     select! {
//!         recv(c1) -> v => assert_eq!(v, Some(7)),
//!         send(c2, "x") => unreachable!("nobody receives on c2"),
//!         recv(gort::after(std::time::Duration::from_millis(5))) -> _ => {}
//!     }
//!     let got = select! {
//!         recv(c1) -> v => v,
//!         default => None,
//!     };
//!     assert_eq!(got, None);
//! });
//! assert_eq!(exit.status, 0);
//! ```
//!
//! Cases, as in Go:
//! * `recv(c) -> v => body`: `v` is `Some(value)`, or `None` when the
//!   channel is closed (Go's `v, ok := <-c` with ok = false); `v` may be
//!   any irrefutable pattern (`_`).
//! * `send(c, value) => body`: panics like Go when `c` is closed.
//! * `default => body`: taken when no other case is ready.
//!
//! Among ready cases one is chosen uniformly at random; with none ready
//! and no default, the goroutine parks (`[select]` in dumps). `select! {}`
//! blocks forever (`[select (no cases)]`). Channel expressions are
//! evaluated once, in order, before anything else, as in Go. The value of
//! the chosen body is the value of the `select!`.

/// Go's `select` statement; see the module documentation.
#[macro_export]
macro_rules! select {
    () => {
        $crate::rt::block()
    };
    ($($t:tt)+) => {
        $crate::__select!(@parse [] [] $($t)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select {
    // ---- parsing: collect `(kind chan pat-or-value body)` and the default.
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($c:expr) -> $p:pat => $body:block, $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)* (recv ($c) ($p) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($c:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)* (recv ($c) ($p) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($c:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)* (recv ($c) ($p) { $body })] [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        recv($c:expr) -> $p:pat => $body:expr) => {
        $crate::__select!(@parse [$($cases)* (recv ($c) ($p) { $body })] [$($def)*])
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($c:expr, $v:expr) => $body:block, $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)* (send ($c) ($v) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($c:expr, $v:expr) => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)* (send ($c) ($v) $body)] [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($c:expr, $v:expr) => $body:expr, $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)* (send ($c) ($v) { $body })] [$($def)*] $($rest)*)
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]
        send($c:expr, $v:expr) => $body:expr) => {
        $crate::__select!(@parse [$($cases)* (send ($c) ($v) { $body })] [$($def)*])
    };
    (@parse [$($cases:tt)*] []
        default => $body:block, $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)*] [$body] $($rest)*)
    };
    (@parse [$($cases:tt)*] []
        default => $body:block $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)*] [$body] $($rest)*)
    };
    (@parse [$($cases:tt)*] []
        default => $body:expr, $($rest:tt)*) => {
        $crate::__select!(@parse [$($cases)*] [{ $body }] $($rest)*)
    };
    (@parse [$($cases:tt)*] []
        default => $body:expr) => {
        $crate::__select!(@parse [$($cases)*] [{ $body }])
    };
    (@parse [$($cases:tt)*] [$($def:tt)*]) => {
        $crate::__select!(@build [] [] [$($def)*] $($cases)*)
    };

    // ---- building: one hygienic `__case` binding per case (each
    // expansion step makes a distinct identifier), channels borrowed from
    // `match` scrutinees so temporaries like `after(d)` live long enough.
    (@build [$($vars:tt)*] [$($arms:tt)*] [$($def:tt)*]
        (recv ($c:expr) ($p:pat) $body:block) $($rest:tt)*) => {
        match &$c {
            __chan => {
                let mut __case = $crate::rt::RecvCase::new(__chan);
                $crate::__select!(@build [$($vars)* __case] [$($arms)* (recv __case ($p) $body)]
                    [$($def)*] $($rest)*)
            }
        }
    };
    (@build [$($vars:tt)*] [$($arms:tt)*] [$($def:tt)*]
        (send ($c:expr) ($v:expr) $body:block) $($rest:tt)*) => {
        match &$c {
            __chan => {
                let mut __case = $crate::rt::SendCase::new(__chan, $v);
                $crate::__select!(@build [$($vars)* __case] [$($arms)* (send __case $body)]
                    [$($def)*] $($rest)*)
            }
        }
    };
    (@build [$($vars:ident)*] [$($arms:tt)*] []) => {{
        $crate::rt::selectgo(&mut [$(&mut $vars as &mut dyn $crate::rt::SelectCase),*], true);
        $crate::__select!(@arms [$($arms)*] { ::std::unreachable!("gort: select returned without a case") })
    }};
    (@build [$($vars:ident)*] [$($arms:tt)*] [$def:block]) => {{
        $crate::rt::selectgo(&mut [$(&mut $vars as &mut dyn $crate::rt::SelectCase),*], false);
        $crate::__select!(@arms [$($arms)*] $def)
    }};

    // ---- dispatch: the chosen case's body, else the default.
    (@arms [(recv $var:ident ($p:pat) $body:block) $($rest:tt)*] $else:block) => {
        if $crate::rt::SelectCase::chosen(&$var) {
            let $p = $var.take();
            $body
        } else {
            $crate::__select!(@arms [$($rest)*] $else)
        }
    };
    (@arms [(send $var:ident $body:block) $($rest:tt)*] $else:block) => {
        if $crate::rt::SelectCase::chosen(&$var) {
            $body
        } else {
            $crate::__select!(@arms [$($rest)*] $else)
        }
    };
    (@arms [] $else:block) => {
        $else
    };
}
