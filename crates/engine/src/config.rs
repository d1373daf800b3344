//! Engine settings: ttl policy, polling hint, page size, sweeping.

use std::time::Duration;

/// The smallest ttl granted.
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// How the engine resolves ttls and pages, and how often it sweeps.
///
/// Built with consuming setters from [`EngineConfig::default`].
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The ttl of a task whose request names none. `None` is unlimited.
    pub default_ttl: Option<Duration>,
    /// The largest ttl granted; larger requests are lowered to it and the actual ttl returned
    /// (T-TTL-2). `None` allows any ttl.
    pub max_ttl: Option<Duration>,
    /// The `pollInterval` suggested to requestors.
    pub poll_interval: Duration,
    /// Tasks per `tasks/list` page.
    pub page_size: usize,
    /// How often the sweeper deletes expired tasks.
    pub sweep_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_ttl: Some(Duration::from_secs(60 * 60)),
            max_ttl: Some(Duration::from_secs(24 * 60 * 60)),
            poll_interval: Duration::from_millis(500),
            page_size: 10,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

impl EngineConfig {
    /// Sets the default ttl.
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Sets the maximum ttl.
    pub fn max_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Sets the suggested polling interval.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// Sets the `tasks/list` page size (at least 1).
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Sets how often expired tasks are swept.
    pub fn sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_interval = every;
        self
    }

    /// The ttl granted for a request that asked for `requested_ms` (T-TTL-2): the default when
    /// none was asked, never above the maximum.
    pub fn resolve_ttl(&self, requested_ms: Option<u64>) -> Option<Duration> {
        let wanted = match requested_ms {
            // Never below the minimum: a task must still exist when its CreateTaskResult
            // arrives and the requestor's first tasks/get follows (T-NEW-5).
            Some(ms) => Some(Duration::from_millis(ms).max(MIN_TTL)),
            None => self.default_ttl,
        };
        match (wanted, self.max_ttl) {
            (Some(w), Some(max)) => Some(w.min(max)),
            (None, Some(max)) => Some(max),
            (w, None) => w,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-TTL-2: requests above the maximum are lowered; none asked gives the default.
    #[test]
    fn ttl_is_defaulted_and_capped() {
        let c = EngineConfig::default()
            .default_ttl(Some(Duration::from_secs(60)))
            .max_ttl(Some(Duration::from_secs(120)));
        assert_eq!(c.resolve_ttl(None), Some(Duration::from_secs(60)));
        assert_eq!(c.resolve_ttl(Some(5_000)), Some(Duration::from_secs(5)));
        assert_eq!(
            c.resolve_ttl(Some(0)),
            Some(MIN_TTL),
            "never expired at birth"
        );
        assert_eq!(
            c.resolve_ttl(Some(999_999_999)),
            Some(Duration::from_secs(120))
        );
        let unlimited = c.clone().default_ttl(None).max_ttl(None);
        assert_eq!(unlimited.resolve_ttl(None), None);
        let capped_default = c.default_ttl(None);
        assert_eq!(
            capped_default.resolve_ttl(None),
            Some(Duration::from_secs(120))
        );
    }
}
