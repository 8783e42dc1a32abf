//! Verdicts of Supply chain: `sigstore_verification`, `build_transparency_log`.

use std::collections::BTreeMap;

use super::verdicts::VerdictInputs;
use crate::report::{Factor, Verdict};

/// Inserts this module's verdicts; factors it leaves out keep their parsing-only verdict.
pub(super) fn compute(_i: &VerdictInputs<'_>, _out: &mut BTreeMap<Factor, Verdict>) {}
