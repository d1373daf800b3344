//! Engine settings: ttl policy, limits, polling hint, page size, sweeping, audit.

use std::time::Duration;

/// The smallest ttl granted.
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// What one requestor, or one task, may hold at once (T-TTL-2). `None` is no limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Unfinished (`working` or `input_required`) tasks per requestor: per owner, or without
    /// auth, per session; and per client (the owner, else the client key the transport bound
    /// to the session, such as an HTTP peer's address: see
    /// [`Engine::bind_client`](crate::Engine::bind_client)), so that many anonymous sessions
    /// of one client share one allowance. Creation above it is refused with
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded).
    pub max_active_per_requestor: Option<usize>,
    /// Bytes of a task's result as JSON; a larger result fails the task with a -32603 error
    /// that says so, instead of filling the store.
    pub max_result_bytes: Option<usize>,
    /// Bytes of unexpired task results one client (as for `max_active_per_requestor`) may hold
    /// before its new tasks are refused with
    /// [`Error::ResultBytesExceeded`](crate::Error::ResultBytesExceeded), which says when the
    /// oldest expires. Counted per engine instance (module `quota`).
    pub max_result_bytes_per_client: Option<u64>,
    /// Unanswered input requests one task may have at once; one more is refused with
    /// [`Error::TooManyInputs`](crate::Error::TooManyInputs).
    pub max_pending_inputs: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_active_per_requestor: Some(1000),
            max_result_bytes: Some(16 * 1024 * 1024),
            max_pending_inputs: Some(16),
            max_result_bytes_per_client: Some(256 * 1024 * 1024),
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The default ttl is unlimited but unlimited ttls are not allowed.
    #[error("the default ttl is unlimited but unlimited ttls are not allowed; set a default ttl or allow unlimited ttls")]
    UnlimitedDefault,
    /// The default ttl is above the maximum.
    #[error("the default ttl ({default:?}) is above the maximum ttl ({max:?}); lower the default or raise the maximum")]
    DefaultAboveMax {
        /// The default.
        default: Duration,
        /// The maximum.
        max: Duration,
    },
    /// A limit of zero would refuse everything.
    #[error("{name} is 0, which would refuse every task; leave it unset for no limit")]
    ZeroLimit {
        /// The limit's name.
        name: &'static str,
    },
}

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
    /// Whether a task may live forever (`ttl: null`): only then may `default_ttl` be `None`.
    pub allow_unlimited_ttl: bool,
    /// Per-requestor and per-task limits.
    pub limits: Limits,
    /// Whether to emit audit events (T-SEC-3) under the [`AUDIT_TARGET`](crate::AUDIT_TARGET)
    /// tracing target.
    pub audit: bool,
    /// On a shared store: how long this process counts as alive after it last renewed its
    /// lease. It renews every third of that, and its tasks are taken for orphans by the
    /// other instances about this long after it dies.
    pub lease_ttl: Duration,
    /// What the server calls itself in the statusMessage of a task its restart cut short
    /// ("the gateway restarted while this task ran"): `server` unless said otherwise.
    pub role: &'static str,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_ttl: Some(Duration::from_secs(60 * 60)),
            max_ttl: Some(Duration::from_secs(24 * 60 * 60)),
            poll_interval: Duration::from_millis(500),
            page_size: 10,
            sweep_interval: Duration::from_secs(1),
            allow_unlimited_ttl: false,
            limits: Limits::default(),
            audit: false,
            lease_ttl: Duration::from_secs(15),
            role: "server",
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

    /// Allows or forbids unlimited ttls.
    pub fn allow_unlimited_ttl(mut self, allow: bool) -> Self {
        self.allow_unlimited_ttl = allow;
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the lease ttl on shared stores (at least 300 ms, so renewals have room).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// Sets what the server calls itself when it reports a restart: `gateway`, say.
    pub fn role(mut self, role: &'static str) -> Self {
        self.role = role;
        self
    }

    /// Turns audit events on or off.
    pub fn audit(mut self, on: bool) -> Self {
        self.audit = on;
        self
    }

    /// Checks that the settings make sense together.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] that says which setting to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (self.default_ttl, self.max_ttl) {
            (None, _) if !self.allow_unlimited_ttl => return Err(ConfigError::UnlimitedDefault),
            (Some(default), Some(max)) if default > max => {
                return Err(ConfigError::DefaultAboveMax { default, max })
            }
            _ => {}
        }
        let l = &self.limits;
        for (name, value) in [
            ("max_active_per_requestor", l.max_active_per_requestor),
            ("max_result_bytes", l.max_result_bytes),
            ("max_pending_inputs", l.max_pending_inputs),
        ] {
            if value == Some(0) {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        if l.max_result_bytes_per_client == Some(0) {
            return Err(ConfigError::ZeroLimit {
                name: "max_result_bytes_per_client",
            });
        }
        Ok(())
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
            (None, None) if !self.allow_unlimited_ttl => Some(Duration::from_secs(60 * 60)),
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
        let unlimited = c
            .clone()
            .default_ttl(None)
            .max_ttl(None)
            .allow_unlimited_ttl(true);
        assert_eq!(unlimited.resolve_ttl(None), None);
        assert_eq!(unlimited.validate(), Ok(()));
        assert_eq!(
            unlimited.allow_unlimited_ttl(false).validate(),
            Err(ConfigError::UnlimitedDefault)
        );
        let capped_default = c.default_ttl(None).allow_unlimited_ttl(true);
        assert_eq!(
            capped_default.resolve_ttl(None),
            Some(Duration::from_secs(120))
        );
    }

    /// T-TTL-2: settings that contradict each other are refused with what to change.
    #[test]
    fn contradictions_are_refused() {
        let c = EngineConfig::default()
            .default_ttl(Some(Duration::from_secs(300)))
            .max_ttl(Some(Duration::from_secs(60)));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::DefaultAboveMax { .. })
        ));
        let zero = EngineConfig::default().limits(Limits {
            max_pending_inputs: Some(0),
            ..Limits::default()
        });
        let err = zero.validate().unwrap_err();
        assert!(err.to_string().contains("max_pending_inputs"), "{err}");
        assert_eq!(EngineConfig::default().validate(), Ok(()));
    }
}
