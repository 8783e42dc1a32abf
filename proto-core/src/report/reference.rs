//! Reading the reference verifier's `report.txt`, to compare verdicts with ours.

use super::{Factor, Metadata, Status};

/// One factor line of a reference report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceFactor {
    /// The name as printed.
    pub name: String,
    /// The factor, if the name is known.
    pub factor: Option<Factor>,
    /// Status from the icon.
    pub status: Status,
    /// `[ENFORCED]` (true) or `[ALLOWED]` (false); N/A lines carry no tag.
    pub enforced: bool,
    /// Detail text (continuation lines joined with `\n`).
    pub detail: String,
}

/// A parsed reference report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceReport {
    /// Provider from the title.
    pub provider: String,
    /// Model from the title.
    pub model: String,
    /// Header facts.
    pub metadata: Metadata,
    /// Factor lines in order.
    pub factors: Vec<ReferenceFactor>,
    /// The `Score: ...` line.
    pub score_line: String,
}

/// Why a reference report could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("report.txt line {line}: {reason}")]
pub struct ReferenceError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl ReferenceReport {
    /// Parses the text. A report of a failed run (`Error: ...`) is an error naming that text.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let err = |line: usize, reason: &str| ReferenceError { line, reason: reason.to_owned() };
        let lines: Vec<&str> = text.lines().collect();
        let title = lines.first().ok_or_else(|| err(1, "empty report"))?;
        if let Some(run_error) = title.strip_prefix("Error: ") {
            return Err(err(1, &format!("the reference run failed: {run_error}")));
        }
        let rest = title.split_once(": ").map(|(_, r)| r).ok_or_else(|| err(1, "no title"))?;
        let (provider, model) = rest.split_once(" / ").ok_or_else(|| err(1, "title lacks provider / model"))?;
        let mut metadata = Metadata::default();
        let mut factors: Vec<ReferenceFactor> = Vec::new();
        let mut score_line = None;
        for (i, line) in lines.iter().enumerate().skip(2) {
            if let Some(score) = line.strip_prefix("Score: ") {
                score_line = Some(format!("Score: {score}"));
                break;
            }
            if line.is_empty() || line.starts_with("Tier ") {
                continue;
            }
            if let Some(parsed) = parse_factor_line(line) {
                factors.push(parsed);
            } else if factors.is_empty() {
                parse_metadata_line(line, &mut metadata).ok_or_else(|| err(i + 1, "unrecognised header line"))?;
            } else {
                let last = factors.last_mut().expect("non-empty");
                last.detail.push('\n');
                last.detail.push_str(line);
            }
        }
        let score_line = score_line.ok_or_else(|| err(lines.len(), "no score line"))?;
        Ok(Self { provider: provider.to_owned(), model: model.to_owned(), metadata, factors, score_line })
    }
}

fn parse_factor_line(line: &str) -> Option<ReferenceFactor> {
    let body = line.strip_prefix("  ")?;
    let mut chars = body.chars();
    let status = match chars.next()? {
        '\u{2713}' => Status::Pass,
        '\u{2717}' => Status::Fail,
        '?' | '-' => Status::Skip,
        '\u{2014}' => Status::NotApplicable,
        _ => return None,
    };
    let rest = chars.as_str().strip_prefix(' ')?;
    let (name, detail) = rest.split_once(' ').unwrap_or((rest, ""));
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()) {
        return None;
    }
    let detail = detail.trim_start_matches(' ');
    let (detail, enforced) = if let Some(d) = detail.strip_suffix("  [ENFORCED]") {
        (d, true)
    } else if let Some(d) = detail.strip_suffix("  [ALLOWED]") {
        (d, false)
    } else {
        (detail, false)
    };
    Some(ReferenceFactor {
        name: name.to_owned(),
        factor: Factor::from_name(name),
        status,
        enforced,
        detail: detail.to_owned(),
    })
}

fn parse_metadata_line(line: &str, m: &mut Metadata) -> Option<()> {
    let body = line.strip_prefix("  ")?;
    let (label, value) = body.split_once(':')?;
    let value = value.trim_start().to_owned();
    match label {
        "Hardware" => m.hardware = Some(value),
        "Upstream" => m.upstream = Some(value),
        "App" => m.app = Some(value),
        "Compose hash" => m.compose_hash = Some(value),
        "OS image" => m.os_image = Some(value),
        "Device" => m.device = Some(value),
        "PPID" => m.ppid = Some(value),
        "Nonce source" => m.nonce_source = Some(value),
        "Candidates" => {
            let (evaluated, available) = value.strip_suffix(" evaluated")?.split_once('/')?;
            m.candidates = Some((evaluated.parse().ok()?, available.parse().ok()?));
        }
        "Event log" => m.event_log = Some(value.strip_suffix(" entries")?.parse().ok()?),
        // Build information of the reference binary is not part of the verdict.
        _ => {
            m.hidden.insert(label.to_owned(), value);
        }
    }
    Some(())
}
