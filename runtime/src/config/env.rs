//! The plain environment variables: `GOMAXPROCS` (Go's `schedinit`) and
//! `GOGC` (Go's `readGOGC`), and the runtime's `atoi` both they and
//! `GODEBUG` parse numbers with.

use super::{Config, GOGC_DEFAULT};

impl Config {
    /// Go's `schedinit` accepts `GOMAXPROCS` if `atoi32` parses it and it is
    /// positive; anything else keeps the CPU count, here with a warning.
    pub(super) fn parse_gomaxprocs(&mut self, value: &str) {
        match atoi(value, 1, i32::MAX.into()) {
            Ok(n) => self.gomaxprocs = n as usize,
            Err(e) => {
                let why = match e {
                    AtoiError::TooLarge => format!("is too large (at most {})", i32::MAX),
                    AtoiError::Invalid => "is not a positive integer".to_string(),
                };
                self.warn(format!(
                    "gort: GOMAXPROCS={value:?} {why}; using the default, {}",
                    self.gomaxprocs
                ));
            }
        }
    }

    /// Go's `readGOGC`: `off` turns the collector off; otherwise `atoi32`,
    /// whose syntax is an optional `-` then digits (a lone `-` reads as 0);
    /// a negative percentage is off too (`setGCPercent`); anything `atoi32`
    /// rejects, including numbers outside int32, leaves 100. gort warns
    /// about what Go silently rejects or misreads. An empty value is Go's
    /// unset (`gogetenv` cannot tell them apart), so it passes silently.
    pub(super) fn parse_gogc(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        if value == "off" {
            self.gogc = None;
            return;
        }
        let digits = value.strip_prefix('-').unwrap_or(value);
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            self.warn(format!(
                "gort: GOGC={value:?} is not a number or \"off\"; using the default, {GOGC_DEFAULT}"
            ));
            self.gogc = Some(GOGC_DEFAULT);
            return;
        }
        if digits.is_empty() {
            self.warn(format!(
                "gort: GOGC={value:?} is not a number or \"off\"; like Go 1.19, whose atoi \
                 reads a lone \"-\" as 0, using 0"
            ));
            self.gogc = Some(0);
            return;
        }
        let negative = digits.len() < value.len();
        match atoi(value, i32::MIN.into(), i32::MAX.into()) {
            Ok(n) if n < 0 => self.gogc = None,
            Ok(n) => self.gogc = Some(n as u32),
            Err(_) => {
                let why = if negative {
                    format!("is too small (at least {})", i32::MIN)
                } else {
                    format!("is too large (at most {})", i32::MAX)
                };
                self.warn(format!(
                    "gort: GOGC={value:?} {why}; using the default, {GOGC_DEFAULT}"
                ));
                self.gogc = Some(GOGC_DEFAULT);
            }
        }
    }
}

/// Why `atoi` rejected a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AtoiError {
    /// Not a decimal integer, or below the minimum.
    Invalid,
    /// A decimal integer above the maximum.
    TooLarge,
}

/// Go's runtime `atoi64` syntax (an optional `-`, then ASCII digits; no `+`,
/// no spaces), except that a lone `-` is rejected, bounded to `min..=max`.
pub(super) fn atoi(s: &str, min: i128, max: i128) -> Result<i128, AtoiError> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(AtoiError::Invalid);
    }
    let mut n: i128 = 0;
    for c in digits.bytes() {
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i128::from(c - b'0')))
        {
            Some(n) => n,
            // Beyond i128 there is nothing gort accepts, whatever the sign.
            None if neg => return Err(AtoiError::Invalid),
            None => return Err(AtoiError::TooLarge),
        };
    }
    if neg {
        n = -n;
    }
    if n < min {
        Err(AtoiError::Invalid)
    } else if n > max {
        Err(AtoiError::TooLarge)
    } else {
        Ok(n)
    }
}
