//! Retry policy: how many attempts a task gets and how long to wait between them.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter: the n-th retry waits `initial * 2^(n-1)`, capped at `max`, then
/// scaled by a random factor in `[1 - jitter, 1 + jitter]` so that retries of many tasks spread out.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// A fraction in [0, 1].
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 0,
            initial_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(600),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first retry), without jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        self.initial_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// The delay before retry number `retry`, with jitter applied.
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.base_delay(retry);
        if self.jitter <= 0.0 {
            return base;
        }
        let factor = rand::rng().random_range((1.0 - self.jitter)..=(1.0 + self.jitter));
        base.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            jitter,
        }
    }

    #[test]
    fn doubles_then_caps() {
        let delays: Vec<u64> = (1..=6).map(|n| policy(0.0).delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_stays_within_its_band() {
        for retry in 1..=4 {
            let base = policy(0.0).base_delay(retry).as_secs_f64();
            for _ in 0..100 {
                let delay = policy(0.25).delay(retry).as_secs_f64();
                assert!(delay >= base * 0.75 - 1e-9 && delay <= base * 1.25 + 1e-9);
            }
        }
    }
}
