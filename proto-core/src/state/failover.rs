//! Chutes failover rules as pure functions: which upstream outcomes move the request to
//! another instance, and how the inner (per relay) and outer (per client request) attempt
//! loops proceed.

/// Upstream attempts per relay attempt (the inner loop).
pub const INNER_ATTEMPTS: u32 = 3;
/// Relay attempts per client request (the outer loop). At most 3 × 3 upstream requests.
pub const OUTER_ATTEMPTS: u32 = 3;

/// How one upstream attempt ended, as far as failover cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// No response: connect, TLS, write or read of the head failed. `cancelled` is true when
    /// the client went away (that is never retried).
    Transport {
        /// The client cancelled the request.
        cancelled: bool,
    },
    /// A response head with this status arrived.
    Status(u16),
}

/// Whether an outcome is worth trying on another instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The instance looks unhealthy: mark it failed and try another.
    AnotherInstance,
    /// Do not retry: the outcome stands (success, a client error, a rate limit, cancellation).
    No,
}

/// Transport errors (except client cancellation) and HTTP 500, 502, 503, 504 are retried on
/// another instance; everything else, notably 429 (an account-wide rate limit) and every 4xx,
/// is not.
pub fn classify(outcome: AttemptOutcome) -> Retry {
    match outcome {
        AttemptOutcome::Transport { cancelled: false } => Retry::AnotherInstance,
        AttemptOutcome::Status(500 | 502 | 503 | 504) => Retry::AnotherInstance,
        AttemptOutcome::Transport { cancelled: true } | AttemptOutcome::Status(_) => Retry::No,
    }
}

/// What the inner loop does after attempt number `attempt` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerNext {
    /// Drop this response and make the next attempt (new material, another instance).
    TryAgain,
    /// Stop here and use this response: relay a 200, forward any other status as is.
    UseResponse,
    /// Stop here without a response (transport failure or cancellation).
    TransportFailed,
}

/// The inner loop's decision for one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerDecision {
    /// Mark the attempt's instance failed in the nonce pool (every retryable outcome, the
    /// last attempt's included).
    pub mark_failed: bool,
    /// What to do next.
    pub next: InnerNext,
}

/// Applies the inner-loop rule to attempt `attempt` (0-based) ending in `outcome`.
pub fn inner_decision(attempt: u32, outcome: AttemptOutcome) -> InnerDecision {
    let last = attempt.saturating_add(1) >= INNER_ATTEMPTS;
    let retryable = classify(outcome) == Retry::AnotherInstance;
    let next = match (outcome, retryable && !last) {
        (_, true) => InnerNext::TryAgain,
        (AttemptOutcome::Transport { .. }, false) => InnerNext::TransportFailed,
        (AttemptOutcome::Status(_), false) => InnerNext::UseResponse,
    };
    InnerDecision { mark_failed: retryable, next }
}

/// Whether the outer loop may start relay attempt `relay_attempt + 1` after a failed relay
/// attempt `relay_attempt` (0-based): only while attempts remain and nothing has been written
/// to the client. (A non-200 response is forwarded, never retried at this level.)
pub fn outer_may_retry(relay_attempt: u32, written_to_client: bool) -> bool {
    !written_to_client && relay_attempt.saturating_add(1) < OUTER_ATTEMPTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_errors_and_four_gateway_statuses_retry() {
        for code in 100..=599u16 {
            let expected = if matches!(code, 500 | 502 | 503 | 504) { Retry::AnotherInstance } else { Retry::No };
            assert_eq!(classify(AttemptOutcome::Status(code)), expected, "status {code}");
        }
        assert_eq!(classify(AttemptOutcome::Status(429)), Retry::No);
        assert_eq!(classify(AttemptOutcome::Transport { cancelled: false }), Retry::AnotherInstance);
        assert_eq!(classify(AttemptOutcome::Transport { cancelled: true }), Retry::No);
    }

    #[test]
    fn inner_loop_marks_every_retryable_outcome_and_stops_at_three() {
        let s503 = AttemptOutcome::Status(503);
        let transport = AttemptOutcome::Transport { cancelled: false };
        let d = |mark_failed, next| InnerDecision { mark_failed, next };
        assert_eq!(inner_decision(0, s503), d(true, InnerNext::TryAgain));
        assert_eq!(inner_decision(1, transport), d(true, InnerNext::TryAgain));
        assert_eq!(inner_decision(2, s503), d(true, InnerNext::UseResponse), "last 5xx is forwarded");
        assert_eq!(inner_decision(2, transport), d(true, InnerNext::TransportFailed));
        assert_eq!(inner_decision(0, AttemptOutcome::Status(200)), d(false, InnerNext::UseResponse));
        assert_eq!(inner_decision(0, AttemptOutcome::Status(429)), d(false, InnerNext::UseResponse));
        let cancelled = AttemptOutcome::Transport { cancelled: true };
        assert_eq!(inner_decision(0, cancelled), d(false, InnerNext::TransportFailed));
        assert_eq!(inner_decision(u32::MAX, s503), d(true, InnerNext::UseResponse));
    }

    #[test]
    fn whole_request_makes_at_most_nine_upstream_attempts() {
        let mut posts = 0;
        let mut relay = 0;
        loop {
            let mut attempt = 0;
            let failed = loop {
                posts += 1;
                let d = inner_decision(attempt, AttemptOutcome::Transport { cancelled: false });
                match d.next {
                    InnerNext::TryAgain => attempt += 1,
                    InnerNext::TransportFailed => break true,
                    InnerNext::UseResponse => break false,
                }
            };
            if !(failed && outer_may_retry(relay, false)) {
                break;
            }
            relay += 1;
        }
        assert_eq!(posts, 9);
        assert!(!outer_may_retry(0, true), "never retry once bytes reached the client");
    }
}
