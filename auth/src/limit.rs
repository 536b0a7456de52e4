//! Request quotas ([`RateLimits`]): per verified subject, the quota of its roles, and per peer
//! address for requests that fail authentication. The key is the token's verified `sub` or
//! the TCP peer, never a header a client sets. governor's GCRA, one keyed limiter per distinct
//! quota; each quota allows bursts of up to a minute's worth.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use causeway_infra::settings::RateLimitSettings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};

use crate::AuthError;
use crate::access::{Principal, Role};

/// Keys of a limiter are swept of idle ones after this many checks.
const SWEEP_EVERY: u64 = 4096;

/// The quotas of one process, shared by its HTTP routes (a clone shares the counts).
#[derive(Clone)]
pub struct RateLimits {
    inner: Arc<Inner>,
}

struct Inner {
    /// Requests per minute of a subject without a role quota; 0: unlimited.
    default_per_minute: u32,
    /// Role quotas; 0: unlimited.
    per_role: BTreeMap<Role, u32>,
    /// One limiter per distinct non-zero quota, keyed by subject.
    subjects: BTreeMap<u32, DefaultKeyedRateLimiter<String>>,
    /// Requests that fail authentication, keyed by peer address.
    unauthenticated: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

impl RateLimits {
    /// The quotas of `settings`; an unknown role name is an error.
    pub fn new(settings: &RateLimitSettings) -> Result<Self, String> {
        let mut per_role = BTreeMap::new();
        for (name, &quota) in &settings.per_role_per_minute {
            let role = Role::from_name(name)
                .ok_or_else(|| format!("rate_limit.per_role_per_minute: no role `{name}`"))?;
            per_role.insert(role, quota);
        }
        let subjects = per_role
            .values()
            .chain([&settings.per_subject_per_minute])
            .filter_map(|&quota| Some((quota, per_minute(quota)?)))
            .map(|(quota, q)| (quota, RateLimiter::keyed(q)))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                default_per_minute: settings.per_subject_per_minute,
                per_role,
                subjects,
                unauthenticated: per_minute(settings.unauthenticated_per_minute)
                    .map(RateLimiter::keyed),
                checks: AtomicU64::new(0),
            }),
        })
    }

    /// The quota of `principal`: the largest of its roles' quotas, or the default when its
    /// roles have none; 0 means unlimited.
    pub fn quota_of(&self, principal: &Principal) -> u32 {
        let quotas: Vec<u32> = principal
            .roles
            .iter()
            .filter_map(|role| self.inner.per_role.get(role).copied())
            .collect();
        if quotas.contains(&0) {
            return 0;
        }
        quotas
            .into_iter()
            .max()
            .unwrap_or(self.inner.default_per_minute)
    }

    /// Counts a request of `principal` against its quota: `RateLimited` past it.
    pub fn admit(&self, principal: &Principal) -> Result<(), AuthError> {
        let quota = self.quota_of(principal);
        let Some(limiter) = self.inner.subjects.get(&quota) else {
            return Ok(());
        };
        self.sweep();
        limiter
            .check_key(&principal.subject)
            .map_err(|not_until| rate_limited(&not_until))
    }

    /// Counts a request from `peer` that failed authentication with `error`: past the
    /// address's quota the answer becomes `RateLimited`. Other refusals (the issuer being
    /// unavailable, a missing permission) are not counted.
    pub fn refuse(&self, peer: Option<IpAddr>, error: AuthError) -> AuthError {
        let counted = matches!(error, AuthError::Missing | AuthError::Invalid(_));
        let (Some(limiter), Some(peer), true) = (&self.inner.unauthenticated, peer, counted) else {
            return error;
        };
        self.sweep();
        match limiter.check_key(&peer) {
            Ok(()) => error,
            Err(not_until) => rate_limited(&not_until),
        }
    }

    /// Now and then, forgets keys whose quota is whole again, so memory follows the callers
    /// of the last minute rather than every caller ever seen.
    fn sweep(&self) {
        if self.inner.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        for limiter in self.inner.subjects.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.inner.unauthenticated {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn per_minute(quota: u32) -> Option<Quota> {
    NonZeroU32::new(quota).map(Quota::per_minute)
}

fn rate_limited(not_until: &NotUntil<<DefaultClock as Clock>::Instant>) -> AuthError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    AuthError::RateLimited {
        retry_after: wait.max(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(default: u32, roles: &[(&str, u32)], unauthenticated: u32) -> RateLimitSettings {
        RateLimitSettings {
            per_subject_per_minute: default,
            per_role_per_minute: roles
                .iter()
                .map(|(name, quota)| ((*name).to_owned(), *quota))
                .collect(),
            unauthenticated_per_minute: unauthenticated,
        }
    }

    fn principal(subject: &str, roles: &[Role]) -> Principal {
        Principal {
            subject: subject.to_owned(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn a_subject_gets_its_quota_then_a_wait() {
        let limits = RateLimits::new(&settings(3, &[], 0)).unwrap();
        let alice = principal("alice", &[Role::Customer]);
        for _ in 0..3 {
            limits.admit(&alice).unwrap();
        }
        let Err(AuthError::RateLimited { retry_after }) = limits.admit(&alice) else {
            panic!("the fourth request is let in");
        };
        // 3 a minute: the next one in 20 s.
        assert!(retry_after > Duration::from_secs(15) && retry_after <= Duration::from_secs(20));
        // Another subject has a quota of its own.
        limits.admit(&principal("bob", &[Role::Customer])).unwrap();
    }

    #[test]
    fn the_largest_role_quota_wins_and_zero_is_unlimited() {
        let limits =
            RateLimits::new(&settings(10, &[("storefront", 500), ("operator", 0)], 0)).unwrap();
        assert_eq!(limits.quota_of(&principal("a", &[Role::Customer])), 10);
        assert_eq!(limits.quota_of(&principal("s", &[Role::Storefront])), 500);
        assert_eq!(
            limits.quota_of(&principal("o", &[Role::Storefront, Role::Operator])),
            0
        );
        let operator = principal("o", &[Role::Operator]);
        for _ in 0..1000 {
            limits.admit(&operator).unwrap();
        }
    }

    #[test]
    fn failed_authentication_is_counted_per_peer_address() {
        let limits = RateLimits::new(&settings(0, &[], 2)).unwrap();
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..2 {
            assert!(matches!(
                limits.refuse(Some(peer), AuthError::Missing),
                AuthError::Missing
            ));
        }
        assert!(matches!(
            limits.refuse(Some(peer), AuthError::Invalid("forged".into())),
            AuthError::RateLimited { .. }
        ));
        // Another address, an unavailable issuer, an unknown peer: not limited.
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(matches!(
            limits.refuse(Some(other), AuthError::Missing),
            AuthError::Missing
        ));
        assert!(matches!(
            limits.refuse(Some(peer), AuthError::Unavailable("down".into())),
            AuthError::Unavailable(_)
        ));
        assert!(matches!(
            limits.refuse(None, AuthError::Missing),
            AuthError::Missing
        ));
    }

    #[test]
    fn an_unknown_role_name_is_refused() {
        let error = RateLimits::new(&settings(1, &[("superuser", 5)], 0))
            .err()
            .unwrap();
        assert!(error.contains("superuser"), "{error}");
    }
}
