//! Comparing our verdicts with a reference report, factor by factor.

use super::{Factor, Report, ReferenceReport, Status};

/// A factor on which this implementation knowingly disagrees with the reference verifier,
/// and why. The list is part of the documentation (README, "Deviations").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deviation {
    /// Provider the deviation applies to.
    pub provider: &'static str,
    /// The factor.
    pub factor: Factor,
    /// Why we differ.
    pub reason: &'static str,
}

/// Every documented deviation from the reference verdicts on recorded captures.
pub const DEVIATIONS: &[Deviation] = &[Deviation {
    provider: "nearcloud",
    factor: Factor::GatewayTeeReportdataBinding,
    reason: "the reference expects REPORTDATA to hold SHA-256(tls_fingerprint), which the live gateway never \
             produces; we check the gateway's actual binding, SHA-256(signing_address || tls_fingerprint) || nonce, \
             which every recorded gateway quote satisfies",
}, Deviation {
    provider: "chutes",
    factor: Factor::NvidiaSignature,
    reason: "the reference checks each GPU's SPDM requester nonce against the server nonce, which Chutes GPUs never \
             sign, so it always fails; the GPUs sign REPORTDATA[0:32] of the quote (SHA-256 of the client nonce hex \
             and the E2EE key), so we verify chains and SPDM signatures against that value and count them only when \
             the REPORTDATA binding passes: the evidence is then bound to the same instance key and session",
}];

/// How one factor compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// Same status and enforcement.
    Agree,
    /// Different, and documented.
    KnownDeviation(&'static str),
    /// Different, undocumented: a conformance failure.
    Differs,
}

/// One factor's comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactorComparison {
    /// Factor name (ours).
    pub name: String,
    /// Our (status, enforced), if we report the factor.
    pub ours: Option<(Status, bool)>,
    /// The reference's (status, enforced), if it reports the factor.
    pub reference: Option<(Status, bool)>,
    /// The outcome.
    pub agreement: Agreement,
}

/// Compares every factor either report has, in our report order then the reference's extras.
pub fn compare(ours: &Report, reference: &ReferenceReport) -> Vec<FactorComparison> {
    let mut out = Vec::new();
    for f in &ours.factors {
        let theirs = reference.factors.iter().find(|r| r.factor == Some(f.factor)).map(|r| (r.status, r.enforced));
        out.push(judge(&ours.provider, f.factor.name(), Some(f.factor), Some((f.status, f.enforced)), theirs));
    }
    for r in &reference.factors {
        if r.factor.is_none_or(|f| ours.factor(f).is_none()) {
            out.push(judge(&ours.provider, &r.name, r.factor, None, Some((r.status, r.enforced))));
        }
    }
    out
}

fn judge(
    provider: &str,
    name: &str,
    factor: Option<Factor>,
    ours: Option<(Status, bool)>,
    reference: Option<(Status, bool)>,
) -> FactorComparison {
    let agreement = if ours == reference {
        Agreement::Agree
    } else if let Some(d) = DEVIATIONS.iter().find(|d| Some(d.factor) == factor && d.provider == provider) {
        Agreement::KnownDeviation(d.reason)
    } else {
        Agreement::Differs
    };
    FactorComparison { name: name.to_owned(), ours, reference, agreement }
}
