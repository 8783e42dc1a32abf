//! Verdicts of NVIDIA NRAS and Proof of Cloud: `nvidia_nras_verified`, `cpu_id_registry`, `gateway_cpu_id_registry`.

use std::collections::BTreeMap;

use super::verdicts::VerdictInputs;
use crate::report::{Factor, Verdict};

/// Inserts this module's verdicts; factors it leaves out keep their parsing-only verdict.
pub(super) fn compute(_i: &VerdictInputs<'_>, _out: &mut BTreeMap<Factor, Verdict>) {}
