//! The text renderer reproduces the reference verifier's `report.txt` layout byte for byte.

use proto_core::report::{AllowFail, Factor, ReferenceReport, Report, Status, Verdict};
use teep_tests::captures::replayable_captures;

#[test]
fn rendering_reference_verdicts_gives_back_every_report_txt() {
    let captures = replayable_captures();
    for dir in &captures {
        let original = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        let reference = ReferenceReport::parse(&original).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut verdicts = Vec::new();
        let mut allowed = Vec::new();
        for line in &reference.factors {
            let factor = line.factor.unwrap_or_else(|| panic!("{}: unknown factor {}", dir.display(), line.name));
            let verdict = match line.status {
                Status::Pass => Verdict::pass(line.detail.clone()),
                Status::Fail => Verdict::fail(line.detail.clone()),
                Status::Skip => Verdict::skip(line.detail.clone()),
                Status::NotApplicable => panic!("seed-era reports have no n/a"),
            };
            if !line.enforced {
                allowed.push(factor.name());
            }
            verdicts.push((factor, verdict));
        }
        let allow = AllowFail::from_names(&allowed).unwrap();
        let report = Report::build(&reference.provider, &reference.model, "", "", reference.metadata.clone(), verdicts, &allow);
        assert_eq!(report.to_text_seed_names(), original, "{}", dir.display());
        assert_eq!(report.is_blocked(), original.contains("enforced, ") && !original.contains("(0 enforced"));
        // The current-name rendering differs only in the names.
        assert!(report.to_text().contains(Factor::TeeMeasurement.name()));
    }
    if !captures.is_empty() {
        assert_eq!(captures.len(), 9, "expected the nine replayable captures");
    }
}
