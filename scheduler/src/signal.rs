//! The SIGSEGV backstop for goroutine stack overflows.
//!
//! The primary overflow check is the software `stackguard0` compare at every
//! safepoint (see `stack.rs`). Code that recurses without reaching a
//! safepoint runs into the slot's guard page instead, and the kernel raises
//! SIGSEGV. The handler runs on an alternate signal stack (the faulting
//! stack has no room left), recognises a fault inside a guard page of the
//! stack pool, writes Go's report with async-signal-safe `write(2)` calls and
//! exits with status 2, as Go does for `fatal error: stack overflow`. Any
//! other fault is not ours: the handler restores the default action and
//! returns, so the fault repeats and kills the process as it would have
//! without gort.

use std::sync::Once;

use crate::stack;

static INSTALL: Once = Once::new();

/// Installs the process-wide SIGSEGV/SIGBUS handler once.
pub(crate) fn install_handler() {
    INSTALL.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: a zeroed sigaction is a valid starting value; the
            // handler has the SA_SIGINFO signature and only calls
            // async-signal-safe functions.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

/// Gives the calling thread an alternate signal stack if it has none, so the
/// handler can run after a goroutine exhausted its stack. Called by every
/// thread that resumes goroutines; the stack is kept for the thread's life.
pub(crate) fn ensure_altstack() {
    const SIZE: usize = 64 << 10;
    // SAFETY: querying the current alternate stack has no preconditions.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a valid out-pointer.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut old) };
    if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= SIZE {
        return;
    }
    // SAFETY: an anonymous mapping; checked against MAP_FAILED. It is never
    // unmapped: the thread may take a signal on it until it exits, and the
    // 64 KiB per thread is bounded by the number of Ms.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return;
    }
    let st = libc::stack_t {
        ss_sp: mem,
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: `st` describes the mapping just made.
    unsafe { libc::sigaltstack(&st, std::ptr::null_mut()) };
}

fn write_all(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: write(2) on fd 2 with a valid buffer is async-signal-safe.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Formats `v` in decimal into `buf` without allocating.
fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

fn fmt_hex(mut v: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[v & 15];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    i -= 1;
    buf[i] = b'x';
    i -= 1;
    buf[i] = b'0';
    &buf[i..]
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(lo) = stack::guard_page_slot(addr) {
        let mut b = [0u8; 20];
        write_all(b"runtime: goroutine stack exceeds ");
        write_all(fmt_u64(stack::STACK_LIMIT as u64, &mut b));
        write_all(b"-byte limit\nruntime: sp=");
        write_all(fmt_hex(addr, &mut b));
        write_all(b" stack=[");
        write_all(fmt_hex(lo + stack::GUARD, &mut b));
        write_all(b", ");
        write_all(fmt_hex(lo + stack::SLOT_SIZE, &mut b));
        write_all(b"]\nfatal error: stack overflow\n\n");
        let g = stack::slot_owner(lo);
        // SAFETY: a non-null owner is a live G (see stack::getg); goid is
        // a plain integer read.
        if let Some(g) = unsafe { g.as_ref() } {
            write_all(b"goroutine ");
            write_all(fmt_u64(g.goid(), &mut b));
            write_all(b" [running]:\n\t(stack overflow detected by the guard page: no safepoint was reached, so gort cannot unwind; exiting)\n");
        }
        // SAFETY: _exit is async-signal-safe and ends the process.
        unsafe { libc::_exit(2) };
    }
    // Not a goroutine stack overflow: fall back to the default action.
    // SAFETY: resetting the disposition to SIG_DFL has no preconditions; on
    // return the faulting instruction re-executes and the default action
    // (core dump) applies.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}
