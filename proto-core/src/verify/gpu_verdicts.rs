//! Verdicts of NVIDIA GPU evidence: `nvidia_signature`, `nvidia_claims`, `nvidia_nonce_client_bound`.

use std::collections::BTreeMap;

use super::verdicts::VerdictInputs;
use crate::report::{Factor, Verdict};

/// Inserts this module's verdicts; factors it leaves out keep their parsing-only verdict.
pub(super) fn compute(_i: &VerdictInputs<'_>, _out: &mut BTreeMap<Factor, Verdict>) {}
