//! The expiry model. A session has an idle timeout (sliding: activity pushes it forward)
//! and an absolute lifetime (created + absolute, never extended). The Redis TTL is always
//! the sooner of the two, so Redis removes dead sessions by itself.

/// The expiry settings, validated by `Config`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expiry {
    pub idle_secs: u64,
    pub absolute_secs: u64,
    /// Refresh once the remaining TTL falls below this fraction of the idle timeout.
    pub refresh_fraction: f64,
}

impl Expiry {
    /// The absolute end of a session created at `now`.
    pub fn absolute_end(&self, now: u64) -> u64 {
        now.saturating_add(self.absolute_secs)
    }

    /// The TTL (seconds) a session should have at `now`: the sooner of idle and absolute
    /// expiry. `None` once the session is past its absolute end.
    pub fn ttl_at(&self, now: u64, expires_at: u64) -> Option<u64> {
        let left = expires_at.checked_sub(now).filter(|&s| s > 0)?;
        Some(self.idle_secs.min(left))
    }

    /// The remaining TTL (milliseconds) at `now_ms` of a record last touched at `touched_at`
    /// (seconds), for reads that get the record without its TTL. Whole-second timestamps
    /// make it up to a second short of Redis's TTL, never longer: a refresh may come a
    /// little early, never too late.
    pub fn remaining_ms_by_record(&self, now_ms: u64, touched_at: u64, expires_at: u64) -> i64 {
        let end_secs = touched_at.saturating_add(self.idle_secs).min(expires_at);
        let end_ms = end_secs.saturating_mul(1000).min(i64::MAX as u64) as i64;
        end_ms.saturating_sub(now_ms.min(i64::MAX as u64) as i64).max(0)
    }

    /// The TTL to set now if a refresh is due, given the key's remaining TTL in
    /// milliseconds (`-1`: the key has no TTL, which a restore or a manual PERSIST can do).
    ///
    /// Writes only when the remaining TTL has fallen below `refresh_fraction` of the idle
    /// timeout and the new TTL would really extend it, so most requests write nothing.
    pub fn refresh(&self, now: u64, expires_at: u64, remaining_ms: i64) -> Option<u64> {
        let ttl = self.ttl_at(now, expires_at)?;
        if remaining_ms < 0 {
            return Some(ttl);
        }
        let threshold_ms = (self.idle_secs as f64 * 1000.0 * self.refresh_fraction) as i64;
        let extends = (ttl as i64).saturating_mul(1000) > remaining_ms.saturating_add(1000);
        (remaining_ms < threshold_ms && extends).then_some(ttl)
    }
}

/// A framework's touch-on-read (connect-redis's `touch`, phpredis's `update_timestamp`,
/// Flask-Session's `SESSION_REFRESH_EACH_REQUEST`): the key's TTL set back to the app's
/// session lifetime. The app owns the record, so only the TTL is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    pub lifetime_secs: u64,
}

impl Touch {
    /// Whether to touch a key with `remaining_ms` left (`-1`: no TTL; `i64::MIN`: not known,
    /// a key-value read; `i64::MAX`: read from a replica). Like the gateway's own refresh, it
    /// writes only once less than `fraction` of the lifetime remains, so most requests write
    /// nothing: the framework touches on every request, which the edge need not repeat.
    pub fn due(&self, remaining_ms: i64, fraction: f64) -> bool {
        match remaining_ms {
            // The app stored it without a TTL: a touch would add an expiry the app did not set.
            -1 => false,
            // A replica answered because the primary did not: a write would fail the same way.
            i64::MAX => false,
            // Key-value reads come without the TTL: touch, as the framework would.
            i64::MIN => true,
            left => left < self.threshold_ms(fraction),
        }
    }

    /// Below this many milliseconds left, a touch is due.
    pub fn threshold_ms(&self, fraction: f64) -> i64 {
        (self.lifetime_secs as f64 * 1000.0 * fraction) as i64
    }
}
