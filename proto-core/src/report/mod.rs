//! The verification report: factor verdicts, enforcement, score, blocked flag, and renderers.
//!
//! Verifiers produce a raw [`Verdict`] per factor; [`Report::build`] applies the enforcement
//! rules (a factor is enforced unless it is in the [`AllowFail`] set; an enforced Skip becomes a
//! Fail) and decides whether the provider is blocked. Permission to send a prompt is derived only
//! from a report that is not blocked.

mod allow_fail;
mod compare;
mod factor;
mod factor_docs;
mod reference;
mod render;

use std::collections::BTreeMap;

pub use allow_fail::{AllowFail, UnknownFactor};
pub use compare::{Agreement, DEVIATIONS, Deviation, FactorComparison, compare};
pub use factor::{Factor, Tier};
pub use factor_docs::factor_table_markdown;
pub use reference::{ReferenceError, ReferenceFactor, ReferenceReport};

/// A factor's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The check passed.
    Pass,
    /// The check failed.
    Fail,
    /// The check could not be made (missing input); an enforced Skip is reported as Fail.
    Skip,
    /// The factor does not apply to this provider.
    NotApplicable,
}

impl Status {
    /// Lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::NotApplicable => "n/a",
        }
    }
}

/// A verifier's raw outcome for one factor, before enforcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Pass, Fail, Skip or N/A.
    pub status: Status,
    /// What was found, in a few words.
    pub detail: String,
    /// A Skip that must not be promoted to Fail yet (a pending live E2EE test).
    pub deferred: bool,
}

impl Verdict {
    /// A pass.
    pub fn pass(detail: impl Into<String>) -> Self {
        Self { status: Status::Pass, detail: detail.into(), deferred: false }
    }
    /// A failure.
    pub fn fail(detail: impl Into<String>) -> Self {
        Self { status: Status::Fail, detail: detail.into(), deferred: false }
    }
    /// A skip.
    pub fn skip(detail: impl Into<String>) -> Self {
        Self { status: Status::Skip, detail: detail.into(), deferred: false }
    }
    /// A check this build cannot make yet: always a failure, never a pass or a silent skip.
    pub fn not_implemented() -> Self {
        Self::fail("not implemented")
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactorResult {
    /// Which factor.
    pub factor: Factor,
    /// Status after enforcement.
    pub status: Status,
    /// Whether a failure of this factor blocks.
    pub enforced: bool,
    /// What was found.
    pub detail: String,
}

/// Counters over a report's factors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Factors that passed.
    pub passed: usize,
    /// Factors that failed (including promoted Skips).
    pub failed: usize,
    /// Factors skipped (allowed ones only: enforced Skips count as failed).
    pub skipped: usize,
    /// Factors not applicable.
    pub not_applicable: usize,
    /// Failed factors that are enforced.
    pub enforced_failed: usize,
    /// Failed factors that are allowed to fail.
    pub allowed_failed: usize,
}

impl Score {
    /// passed + skipped + failed.
    pub fn total(&self) -> usize {
        self.passed + self.skipped + self.failed
    }
}

/// Descriptive facts shown in the report header. Only non-empty values are printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// TEE hardware, e.g. `intel-tdx`.
    pub hardware: Option<String>,
    /// Upstream model behind a gateway.
    pub upstream: Option<String>,
    /// Application name, e.g. `dstack-nvidia-0.5.5`.
    pub app: Option<String>,
    /// dstack compose hash (hex).
    pub compose_hash: Option<String>,
    /// OS image hash (hex).
    pub os_image: Option<String>,
    /// Device id (hex).
    pub device: Option<String>,
    /// Platform provisioning id from the PCK certificate (hex).
    pub ppid: Option<String>,
    /// Where the echoed nonce came from.
    pub nonce_source: Option<String>,
    /// (evaluated, available) instance candidates.
    pub candidates: Option<(usize, usize)>,
    /// Number of event log entries the provider reported.
    pub event_log: Option<usize>,
    /// Values kept but not printed (measurement registers and the like).
    pub hidden: BTreeMap<String, String>,
}

impl Metadata {
    fn is_empty(&self) -> bool {
        self.hardware.is_none()
            && self.upstream.is_none()
            && self.app.is_none()
            && self.compose_hash.is_none()
            && self.os_image.is_none()
            && self.device.is_none()
            && self.ppid.is_none()
            && self.nonce_source.is_none()
            && self.candidates.is_none()
            && self.event_log.is_none()
            && self.hidden.is_empty()
    }
}

/// A finished verification report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Provider name.
    pub provider: String,
    /// Model name as requested.
    pub model: String,
    /// The client nonce, 64 lower-case hex characters.
    pub nonce_hex: String,
    /// The time every validity decision was made at (RFC 3339, UTC).
    pub verified_at: String,
    /// Header facts.
    pub metadata: Metadata,
    /// Factor lines, in report order.
    pub factors: Vec<FactorResult>,
}

impl Report {
    /// Applies enforcement to raw verdicts (given in report order) and builds the report.
    pub fn build(
        provider: &str,
        model: &str,
        nonce_hex: &str,
        verified_at: &str,
        metadata: Metadata,
        verdicts: Vec<(Factor, Verdict)>,
        allow_fail: &AllowFail,
    ) -> Report {
        let factors = verdicts
            .into_iter()
            .map(|(factor, v)| {
                let enforced = !allow_fail.contains(factor);
                let (status, detail) = if v.status == Status::Skip && enforced && !v.deferred {
                    (Status::Fail, format!("{} (enforced)", v.detail))
                } else {
                    (v.status, v.detail)
                };
                FactorResult { factor, status, enforced, detail }
            })
            .collect();
        Report {
            provider: provider.to_owned(),
            model: model.to_owned(),
            nonce_hex: nonce_hex.to_owned(),
            verified_at: verified_at.to_owned(),
            metadata,
            factors,
        }
    }

    /// Counts statuses.
    pub fn score(&self) -> Score {
        let mut s = Score::default();
        for f in &self.factors {
            match f.status {
                Status::Pass => s.passed += 1,
                Status::Skip => s.skipped += 1,
                Status::NotApplicable => s.not_applicable += 1,
                Status::Fail => {
                    s.failed += 1;
                    if f.enforced {
                        s.enforced_failed += 1;
                    } else {
                        s.allowed_failed += 1;
                    }
                }
            }
        }
        s
    }

    /// This report with `factor`'s outcome replaced (its enforcement unchanged; an enforced
    /// Skip becomes a Fail as in [`Report::build`]). Used once a deferred check ran, such as
    /// the live E2EE test after attestation.
    pub fn with_outcome(&self, factor: Factor, verdict: Verdict) -> Report {
        let mut copy = self.clone();
        if let Some(line) = copy.factors.iter_mut().find(|f| f.factor == factor) {
            let promote = verdict.status == Status::Skip && line.enforced && !verdict.deferred;
            line.status = if promote { Status::Fail } else { verdict.status };
            line.detail = if promote { format!("{} (enforced)", verdict.detail) } else { verdict.detail };
        }
        copy
    }

    /// True when any enforced factor failed: nothing may be sent to this provider.
    pub fn is_blocked(&self) -> bool {
        self.factors.iter().any(|f| f.enforced && f.status == Status::Fail)
    }

    /// The result for `factor`, if the report has it.
    pub fn factor(&self, factor: Factor) -> Option<&FactorResult> {
        self.factors.iter().find(|f| f.factor == factor)
    }

    /// The human-readable report (layout of the reference verifier's `report.txt`).
    pub fn to_text(&self) -> String {
        render::text(self)
    }

    /// The text report with the reference verifier's seed-era factor names (`tdx_*`), for
    /// byte comparison with its `report.txt` files.
    pub fn to_text_seed_names(&self) -> String {
        render::text_with(self, render::Names::Seed)
    }

    /// The machine-readable report.
    pub fn to_json(&self) -> String {
        render::json(self)
    }
}
