//! Text and JSON renderings of a report.

use std::fmt::Write;

use super::{Factor, Report, Status};

/// Width the factor name column is padded to.
const NAME_COLUMN: usize = 26;
/// Metadata values longer than this are shortened.
const META_CUT: usize = 16;

/// Which factor names the text uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Names {
    /// Current `tee_*` names.
    Current,
    /// The reference verifier's seed-era `tdx_*` names (for byte comparison with its reports).
    Seed,
}

pub(super) fn text(report: &Report) -> String {
    text_with(report, Names::Current)
}

pub(super) fn text_with(report: &Report, names: Names) -> String {
    let mut out = String::new();
    let title = format!("Attestation Report: {} / {}", report.provider, report.model);
    out.push_str(&title);
    out.push('\n');
    out.push_str(&"\u{2550}".repeat(title.chars().count()));
    out.push_str("\n\n");
    if !report.metadata.is_empty() {
        metadata(report, &mut out);
        out.push('\n');
    }
    let mut tier = None;
    for f in &report.factors {
        if tier != Some(f.factor.tier()) {
            if tier.is_some() {
                out.push('\n');
            }
            tier = Some(f.factor.tier());
            out.push_str(f.factor.tier().label());
            out.push('\n');
        }
        let name = match names {
            Names::Current => f.factor.name(),
            Names::Seed => f.factor.seed_name(),
        };
        let (icon, tag) = match f.status {
            Status::Pass => ("\u{2713}", tag(f.enforced)),
            Status::Fail => ("\u{2717}", tag(f.enforced)),
            Status::Skip => ("?", tag(f.enforced)),
            Status::NotApplicable => ("\u{2014}", ""),
        };
        let _ = write!(out, "  {icon} {name:<NAME_COLUMN$} {}", f.detail);
        if !tag.is_empty() {
            let _ = write!(out, "  {tag}");
        }
        out.push('\n');
    }
    let s = report.score();
    let _ = write!(out, "\nScore: {}/{} passed, {} skipped, {} failed", s.passed, s.total(), s.skipped, s.failed);
    if s.failed > 0 {
        let _ = write!(out, " ({} enforced, {} allowed)", s.enforced_failed, s.allowed_failed);
    }
    if s.not_applicable > 0 {
        let _ = write!(out, ", {} n/a", s.not_applicable);
    }
    out.push_str("\n\nRun 'teep help tiers' for scoring or 'teep help factors' for details.\n");
    out
}

fn tag(enforced: bool) -> &'static str {
    if enforced { "[ENFORCED]" } else { "[ALLOWED]" }
}

fn metadata(report: &Report, out: &mut String) {
    let m = &report.metadata;
    let cut = |v: &str| -> String {
        if v.len() > META_CUT && v.is_char_boundary(META_CUT) { format!("{}...", &v[..META_CUT]) } else { v.to_owned() }
    };
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "  {:<14} {value}", format!("{label}:"));
    };
    let rows: [(&str, Option<String>); 8] = [
        ("Hardware", m.hardware.clone()),
        ("Upstream", m.upstream.clone()),
        ("App", m.app.clone()),
        ("Compose hash", m.compose_hash.as_deref().map(cut)),
        ("OS image", m.os_image.as_deref().map(cut)),
        ("Device", m.device.as_deref().map(cut)),
        ("PPID", m.ppid.as_deref().map(cut)),
        ("Nonce source", m.nonce_source.clone()),
    ];
    for (label, value) in rows {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            line(label, v);
        }
    }
    if let Some((evaluated, available)) = m.candidates {
        line("Candidates", format!("{evaluated}/{available} evaluated"));
    }
    if let Some(n) = m.event_log {
        line("Event log", format!("{n} entries"));
    }
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    provider: &'a str,
    model: &'a str,
    nonce_hex: &'a str,
    verified_at: &'a str,
    blocked: bool,
    factors: Vec<JsonFactor<'a>>,
    score: JsonScore,
}

#[derive(serde::Serialize)]
struct JsonFactor<'a> {
    name: &'static str,
    tier: u8,
    status: &'static str,
    enforced: bool,
    detail: &'a str,
}

#[derive(serde::Serialize)]
struct JsonScore {
    passed: usize,
    failed: usize,
    skipped: usize,
    not_applicable: usize,
    total: usize,
    enforced_failed: usize,
    allowed_failed: usize,
}

pub(super) fn json(report: &Report) -> String {
    let s = report.score();
    let doc = JsonReport {
        provider: &report.provider,
        model: &report.model,
        nonce_hex: &report.nonce_hex,
        verified_at: &report.verified_at,
        blocked: report.is_blocked(),
        factors: report
            .factors
            .iter()
            .map(|f| JsonFactor {
                name: Factor::name(f.factor),
                tier: f.factor.tier().number(),
                status: f.status.as_str(),
                enforced: f.enforced,
                detail: &f.detail,
            })
            .collect(),
        score: JsonScore {
            passed: s.passed,
            failed: s.failed,
            skipped: s.skipped,
            not_applicable: s.not_applicable,
            total: s.total(),
            enforced_failed: s.enforced_failed,
            allowed_failed: s.allowed_failed,
        },
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("report serialises");
    text.push('\n');
    text
}
