//! Measurement policy: allow-lists for the TD's measurements, and the three factors that read
//! them (`attestation-core.md` §6, `factors.md` rows 7–9 and 36–38).
//!
//! A policy is plain data — one list of 48-byte values per register. An empty list means "no
//! policy for that register", which makes the factor that reads it Skip (and, when enforced,
//! Fail). The defaults below are the reference verifier's allow-lists, kept here as data; a
//! configured list (TOML, later) replaces a default list entirely, register by register, through
//! [`MeasurementPolicy::set_hex`].
//!
//! Which factor reads what:
//! * `tee_measurement`: MRTD (checked first), then MRSEAM;
//! * `tee_hardware_config`: RTMR0;
//! * `tee_boot_config`: RTMR1, then RTMR2.
//!
//! RTMR3 is accepted for configuration parity but no factor reads it (its content is the
//! runtime event log, checked by replay instead).

use crate::attestation::tdx::Quote;
use crate::provider::ProviderKind;
use crate::report::Verdict;

/// Size of a TDX measurement register (SHA-384).
pub const MEASUREMENT_LEN: usize = 48;

/// One 48-byte measurement value.
pub type Measurement = [u8; MEASUREMENT_LEN];

/// The registers a policy can constrain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Register {
    /// MRTD: the initial TD contents (firmware).
    Mrtd,
    /// MRSEAM: the TDX module.
    Mrseam,
    /// RTMR0: virtual hardware configuration (ACPI tables, TD HOB).
    Rtmr0,
    /// RTMR1: the kernel and its boot loader.
    Rtmr1,
    /// RTMR2: the kernel command line and initrd.
    Rtmr2,
    /// RTMR3: runtime events; configurable, never read by a factor.
    Rtmr3,
}

impl Register {
    /// Every register, in configuration order.
    pub const ALL: [Register; 6] =
        [Register::Mrtd, Register::Mrseam, Register::Rtmr0, Register::Rtmr1, Register::Rtmr2, Register::Rtmr3];

    /// The register's name in reports (`MRTD`, `RTMR0`, …).
    pub fn name(self) -> &'static str {
        match self {
            Register::Mrtd => "MRTD",
            Register::Mrseam => "MRSEAM",
            Register::Rtmr0 => "RTMR0",
            Register::Rtmr1 => "RTMR1",
            Register::Rtmr2 => "RTMR2",
            Register::Rtmr3 => "RTMR3",
        }
    }

    /// The configuration key of the register's list (`mrtd_allow`, …; with `gateway_` in front
    /// for the gateway policy).
    pub fn config_key(self, gateway: bool) -> &'static str {
        match (self, gateway) {
            (Register::Mrtd, false) => "mrtd_allow",
            (Register::Mrseam, false) => "mrseam_allow",
            (Register::Rtmr0, false) => "rtmr0_allow",
            (Register::Rtmr1, false) => "rtmr1_allow",
            (Register::Rtmr2, false) => "rtmr2_allow",
            (Register::Rtmr3, false) => "rtmr3_allow",
            (Register::Mrtd, true) => "gateway_mrtd_allow",
            (Register::Mrseam, true) => "gateway_mrseam_allow",
            (Register::Rtmr0, true) => "gateway_rtmr0_allow",
            (Register::Rtmr1, true) => "gateway_rtmr1_allow",
            (Register::Rtmr2, true) => "gateway_rtmr2_allow",
            (Register::Rtmr3, true) => "gateway_rtmr3_allow",
        }
    }
}

/// Why a configured allow-list was refused. Every variant names the list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The list is present but empty (remove it to keep the default instead).
    #[error("{list}: empty allow-list; remove the key instead")]
    EmptyList {
        /// The register's name.
        list: &'static str,
    },
    /// An entry is not hex.
    #[error("{list}[{index}]: not valid hex: {reason}")]
    Hex {
        /// The register's name.
        list: &'static str,
        /// Position of the entry.
        index: usize,
        /// The decoder's message.
        reason: String,
    },
    /// An entry does not decode to exactly 48 bytes.
    #[error("{list}[{index}]: {len} bytes, a measurement is 48")]
    Length {
        /// The register's name.
        list: &'static str,
        /// Position of the entry.
        index: usize,
        /// Bytes decoded.
        len: usize,
    },
}

/// Allow-lists for a quote's measurements. An empty list means "no policy" for that register.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeasurementPolicy {
    /// Allowed MRTD values.
    pub mrtd: Vec<Measurement>,
    /// Allowed MRSEAM values.
    pub mrseam: Vec<Measurement>,
    /// Allowed RTMR0 values.
    pub rtmr0: Vec<Measurement>,
    /// Allowed RTMR1 values.
    pub rtmr1: Vec<Measurement>,
    /// Allowed RTMR2 values.
    pub rtmr2: Vec<Measurement>,
    /// Allowed RTMR3 values: configurable for parity with the reference's configuration keys,
    /// but no factor reads them.
    pub rtmr3: Vec<Measurement>,
}

impl MeasurementPolicy {
    /// A policy with no lists: every measurement factor Skips.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The reference verifier's default policy for `provider`'s model TD (`gateway == false`)
    /// or its gateway TD (`gateway == true`; only nearcloud has gateway defaults, every other
    /// provider gets an empty gateway policy). Phala Cloud has no defaults at all.
    pub fn default_for(provider: ProviderKind, gateway: bool) -> Self {
        let lists: &[&[&str]; 5] = match (provider, gateway) {
            (ProviderKind::Venice, false) => &VENICE,
            (ProviderKind::NearDirect, false) => &NEARDIRECT,
            (ProviderKind::NearCloud, false) => &NEARCLOUD_MODEL,
            (ProviderKind::NearCloud, true) => &NEARCLOUD_GATEWAY,
            (ProviderKind::NanoGpt, false) => &NANOGPT,
            (ProviderKind::Chutes, false) => &CHUTES,
            (ProviderKind::PhalaCloud, false) => return Self::empty(),
            (_, true) => return Self::empty(),
        };
        let decode = |list: &[&str]| list.iter().map(|h| decode_constant(h)).collect::<Vec<_>>();
        MeasurementPolicy {
            mrtd: decode(lists[0]),
            mrseam: decode(lists[1]),
            rtmr0: decode(lists[2]),
            rtmr1: decode(lists[3]),
            rtmr2: decode(lists[4]),
            rtmr3: Vec::new(),
        }
    }

    /// The list for `register`.
    pub fn list(&self, register: Register) -> &[Measurement] {
        match register {
            Register::Mrtd => &self.mrtd,
            Register::Mrseam => &self.mrseam,
            Register::Rtmr0 => &self.rtmr0,
            Register::Rtmr1 => &self.rtmr1,
            Register::Rtmr2 => &self.rtmr2,
            Register::Rtmr3 => &self.rtmr3,
        }
    }

    fn list_mut(&mut self, register: Register) -> &mut Vec<Measurement> {
        match register {
            Register::Mrtd => &mut self.mrtd,
            Register::Mrseam => &mut self.mrseam,
            Register::Rtmr0 => &mut self.rtmr0,
            Register::Rtmr1 => &mut self.rtmr1,
            Register::Rtmr2 => &mut self.rtmr2,
            Register::Rtmr3 => &mut self.rtmr3,
        }
    }

    /// True when `register` has a (non-empty) list.
    pub fn has(&self, register: Register) -> bool {
        !self.list(register).is_empty()
    }

    /// True when `value` is in `register`'s list.
    pub fn allows(&self, register: Register, value: &Measurement) -> bool {
        self.list(register).iter().any(|allowed| allowed == value)
    }

    /// Replaces `register`'s list with already-decoded values (an empty vector removes the
    /// policy for that register).
    pub fn replace(&mut self, register: Register, values: Vec<Measurement>) {
        *self.list_mut(register) = values;
    }

    /// Replaces `register`'s list with configured hex values (see [`parse_allowlist`] for the
    /// accepted spelling). Configured lists replace defaults; they are never merged with them.
    /// On error the policy is unchanged.
    pub fn set_hex<S: AsRef<str>>(&mut self, register: Register, entries: &[S]) -> Result<(), PolicyError> {
        let parsed = parse_allowlist(register, entries)?;
        *self.list_mut(register) = parsed;
        Ok(())
    }

    /// Builds a policy from hex lists, one per register in [`Register::ALL`] order; `None`
    /// leaves a register without a policy, `Some` must be a valid, non-empty list.
    pub fn from_hex<S: AsRef<str>>(lists: [Option<&[S]>; 6]) -> Result<Self, PolicyError> {
        let mut policy = Self::empty();
        for (register, list) in Register::ALL.into_iter().zip(lists) {
            if let Some(entries) = list {
                policy.set_hex(register, entries)?;
            }
        }
        Ok(policy)
    }
}

/// Parses a configured allow-list: each entry is trimmed, lower-cased, stripped of one leading
/// `0x`, and must decode to exactly 48 bytes. An empty list is an error (the reference refuses
/// it so that a typo cannot silently disable a check). Duplicates are kept (harmless).
pub fn parse_allowlist<S: AsRef<str>>(register: Register, entries: &[S]) -> Result<Vec<Measurement>, PolicyError> {
    let list = register.name();
    if entries.is_empty() {
        return Err(PolicyError::EmptyList { list });
    }
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let text = entry.as_ref().trim().to_ascii_lowercase();
            let text = text.strip_prefix("0x").unwrap_or(&text);
            let bytes = hex::decode(text).map_err(|e| PolicyError::Hex { list, index, reason: e.to_string() })?;
            Measurement::try_from(bytes.as_slice()).map_err(|_| PolicyError::Length { list, index, len: bytes.len() })
        })
        .collect()
}

/// The first 16 hex characters of `value` followed by `...`, as failure details show them.
fn prefix16(value: &[u8]) -> String {
    let full = hex::encode(value);
    format!("{}...", &full[..full.len().min(16)])
}

/// The three measurement verdicts for the model TD: `tee_measurement`, `tee_hardware_config`,
/// `tee_boot_config`, in that order (rows 7–9 of the factor table).
///
/// * `tee_measurement`: Skip when neither an MRTD nor an MRSEAM list is set; otherwise MRTD is
///   checked first (if listed), then MRSEAM (if listed); the first miss Fails; Pass names the
///   lists applied.
/// * `tee_hardware_config`: Skip without an RTMR0 list; Fail when RTMR0 is not in it.
/// * `tee_boot_config`: Skip when neither RTMR1 nor RTMR2 has a list; RTMR1 then RTMR2, first
///   miss Fails.
pub fn verdicts(policy: &MeasurementPolicy, quote: &Quote) -> (Verdict, Verdict, Verdict) {
    evaluate(policy, quote, Who::Model)
}

/// The gateway twins of [`verdicts`] (`gateway_tee_measurement`, `gateway_tee_hardware_config`,
/// `gateway_tee_boot_config`, rows 36–38), evaluated with the gateway policy on the gateway
/// quote; same rules, details say "gateway".
pub fn gateway_verdicts(policy: &MeasurementPolicy, gateway_quote: &Quote) -> (Verdict, Verdict, Verdict) {
    evaluate(policy, gateway_quote, Who::Gateway)
}

/// The verdicts when the quote (model or gateway) did not parse or is absent: all three Skip.
pub fn unparsed_verdicts(gateway: bool) -> (Verdict, Verdict, Verdict) {
    let who = if gateway { "gateway " } else { "" };
    (
        Verdict::skip(format!("no parseable {who}TDX quote; cannot check MRSEAM/MRTD")),
        Verdict::skip(format!("no parseable {who}TDX quote; cannot check RTMR0")),
        Verdict::skip(format!("no parseable {who}TDX quote; cannot check RTMR1/RTMR2")),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Model,
    Gateway,
}

impl Who {
    fn prefix(self) -> &'static str {
        match self {
            Who::Model => "",
            Who::Gateway => "gateway ",
        }
    }
}

fn evaluate(policy: &MeasurementPolicy, quote: &Quote, who: Who) -> (Verdict, Verdict, Verdict) {
    let body = quote.body();
    let g = who.prefix();

    let measurement = {
        let (has_td, has_seam) = (policy.has(Register::Mrtd), policy.has(Register::Mrseam));
        if !has_td && !has_seam {
            Verdict::skip(format!("no {g}MRSEAM/MRTD measurement policy configured"))
        } else if has_td && !policy.allows(Register::Mrtd, &body.mr_td) {
            Verdict::fail(format!("{g}MRTD not in policy allowlist: {}", prefix16(&body.mr_td)))
        } else if has_seam && !policy.allows(Register::Mrseam, &body.mr_seam) {
            Verdict::fail(format!("{g}MRSEAM not in policy allowlist: {}", prefix16(&body.mr_seam)))
        } else {
            let lists = match (has_td, has_seam) {
                (true, true) => "MRTD/MRSEAM",
                (true, false) => "MRTD",
                _ => "MRSEAM",
            };
            Verdict::pass(format!("{g}{lists} policy matched"))
        }
    };

    let hardware = if !policy.has(Register::Rtmr0) {
        Verdict::skip(format!("no {g}RTMR0 measurement policy configured"))
    } else if !policy.allows(Register::Rtmr0, &body.rtmr[0]) {
        Verdict::fail(format!("{g}RTMR[0] not in policy allowlist: {}", prefix16(&body.rtmr[0])))
    } else {
        Verdict::pass(format!("{g}RTMR0 policy matched"))
    };

    let boot = if !policy.has(Register::Rtmr1) && !policy.has(Register::Rtmr2) {
        Verdict::skip(format!("no {g}RTMR1/RTMR2 measurement policy configured"))
    } else {
        let miss = [(1, Register::Rtmr1), (2, Register::Rtmr2)]
            .into_iter()
            .find(|&(i, reg)| policy.has(reg) && !policy.allows(reg, &body.rtmr[i]));
        match miss {
            Some((i, _)) => {
                let list = if who == Who::Gateway { "gateway policy" } else { "policy" };
                Verdict::fail(format!("{g}RTMR[{i}] not in {list} allowlist: {}", prefix16(&body.rtmr[i])))
            }
            None => Verdict::pass(format!("{g}RTMR1/RTMR2 policy matched")),
        }
    };

    (measurement, hardware, boot)
}

/// Decodes one of the compiled-in constants (checked by a unit test; never fails at run time
/// for the values below).
fn decode_constant(text: &str) -> Measurement {
    let mut out = [0u8; MEASUREMENT_LEN];
    // The constants are 96 lower-case hex digits; a malformed one would be caught by the test
    // `defaults_are_well_formed` and leaves zeros here rather than panicking.
    let _ = hex::decode_to_slice(text, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Default allow-lists (data, from the reference verifier's defaults; `attestation-core.md` §6.2).
// Each provider table is [MRTD, MRSEAM, RTMR0, RTMR1, RTMR2].
// ---------------------------------------------------------------------------------------------

/// TDX module measurements shared by every dstack-based provider.
const DSTACK_MRSEAM: &[&str] = &[
    // TDX module 1.5.08 (Sapphire/Emerald Rapids)
    "49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08850fa20e3b1aa9a874d77a65380ee7e6",
    // TDX module 1.5.16 (Sapphire/Emerald Rapids)
    "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9a9d",
    // TDX module 2.0.08 (Granite Rapids)
    "476a2997c62bccc78370913d0a80b956e3721b24272bc66c4d6307ced4be2865c40e26afac75f12df3425b03eb59ea7c",
    // TDX module 2.0.02 (Granite Rapids)
    "685f891ea5c20e8fa27b151bf34bf3b50fbaf7143cc53662727cbdb167c0ad8385f1f6f3571539a91e104a1c96d75e04",
];

/// dstack firmware measurements shared by every dstack-based provider.
const DSTACK_MRTD: &[&str] = &[
    // dstack-nvidia-0.5.4.1
    "b24d3b24e9e3c16012376b52362ca09856c4adecb709d5fac33addf1c47e193da075b125b6c364115771390a5461e217",
    // dstack-nvidia-0.5.5
    "f06dfda6dce1cf904d4e2bab1dc370634cf95cefa2ceb2de2eee127c9382698090d7a4a13e14c536ec6c9c3c8fa87077",
];

const RTMR0_VENICE: &str =
    "0cb94dba1a9773d741efad49370e1e909557409a904a24a4620b6305651360952cb8111f851b03fc2a35a6c3b7bb05f6";
const RTMR0_NEARDIRECT: &str =
    "bc122d143ab768565ba5c3774ff5f03a63c89a4df7c1f5ea38d3bd173409d14f8cbdcc36d40e703cccb996a9d9687590";
const RTMR1_DSTACK_054: &str =
    "c0445b704e4c48139496ae337423ddb1dcee3a673fd5fb60a53d562f127d235f11de471a7b4ee12c9027c829786757dc";
const RTMR2_DSTACK_054: &str =
    "564622c7ddc55a53272cc9f0956d29b3f7e0dd18ede432720b71fd89e5b5d76cb0b99be7b7ff2a6a92b89b6b01643135";
const RTMR0_DSTACK_055: &str =
    "fb14dc139f33d6fcf474bc8332cac001259fb31cfbcb6b34d4ceeb552a2c4466884a0cbde45ad98a05c5c060c23ad65a";
const RTMR1_DSTACK_055: &str =
    "a7b523278d4f914ee8df0ec80cd1c3d498cbf1152b0c5eaf65bad9425072874a3fcf891e8b01713d3d9937e3e0d26c15";
const RTMR2_DSTACK_055: &str =
    "24847f5c5a2360d030bc4f7b8577ce32e87c4d051452c937e91220cab69542daef83433947c492b9c201182fc9769bbe";

const VENICE: [&[&str]; 5] = [DSTACK_MRTD, DSTACK_MRSEAM, &[RTMR0_VENICE], &[RTMR1_DSTACK_054], &[RTMR2_DSTACK_054]];

const NEARDIRECT: [&[&str]; 5] =
    [DSTACK_MRTD, DSTACK_MRSEAM, &[RTMR0_NEARDIRECT], &[RTMR1_DSTACK_054], &[RTMR2_DSTACK_054]];

const NEARCLOUD_MODEL: [&[&str]; 5] =
    [DSTACK_MRTD, DSTACK_MRSEAM, &[RTMR0_VENICE, RTMR0_NEARDIRECT], &[RTMR1_DSTACK_054], &[RTMR2_DSTACK_054]];

const NEARCLOUD_GATEWAY: [&[&str]; 5] =
    [DSTACK_MRTD, DSTACK_MRSEAM, &[RTMR0_DSTACK_055], &[RTMR1_DSTACK_055], &[RTMR2_DSTACK_055]];

const NANOGPT: [&[&str]; 5] = [
    DSTACK_MRTD,
    DSTACK_MRSEAM,
    &[
        // dstack-nvidia 0.5.4.1 profile
        "6ffe4a2c12f07eccb857f70f370a5af848a7062905cd95adc43abb1f62c39e330aa3c8aeb8f162656c025f3f527600f1",
        // dstack-nvidia 0.5.5 profile
        RTMR0_DSTACK_055,
    ],
    &[
        RTMR1_DSTACK_054,
        "6e1afb7464ed0b941e8f5bf5b725cf1df9425e8105e3348dca52502f27c453f3018a28b90749cf05199d5a17820101a7",
        "920eb831509b58bf83a554b5377dd5ce26d3f5182f14d33622ac24c1d343a0fa3c7bde746e55098ca30baf784dfd2556",
        RTMR1_DSTACK_055,
    ],
    &[
        "54a76ae236a9ab1699379c54d70252cd8e6d20ae398fd8cdb240e39bf3a51074aeeee255a375772b8b431421a5435a0d",
        "f1d5f8b1fd4a198f42468cbf26d9394ae59f4cb7f7b0664dd65e40086def32e943e2b352485eab35a76eb1f890745e7b",
        "dad4e81e61ca324c09ecc048a166403f69e71a8ac31dbe29eefc89a940112ff0f8d4ca101894886eea1e9b1da6ae436f",
        "056e8b649fdb9bb9cd2bfa6d5686121f770593613f923c777394d2a608e4dc3816191ad3a64b5a0a2f9a0a86d154c70b",
        RTMR2_DSTACK_055,
    ],
];

/// Chutes runs sek8s, not dstack: its own firmware, and two more TDX module versions.
const CHUTES: [&[&str]; 5] = [
    &["ddc6efcdd2309e10837f8a7f64b71272b7ef003b129460410fe715bdfffec38c7c0c1686dddb2a23d4fd623d145e8455"],
    &[
        DSTACK_MRSEAM[0],
        DSTACK_MRSEAM[1],
        DSTACK_MRSEAM[2],
        DSTACK_MRSEAM[3],
        // TDX module 1.5.0d
        "489e585f1c54bc5a02066c8c6ec21619ff0334ec6f21e07e2a35202c59183789c8057e7d97dd591bb08314b185819e72",
        // TDX module 2.0.06
        "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
    ],
    &["798ec49f6a912c4d3f69cb0089a01774193d26f2f50b6f37d491f028fe6dd852774e993f33964c9be5fb6ad9b05238f9"],
    &["76f43bc5601feaffb83af1aab0c1758dbe07d579ccdcdab0a3da1f477c3b96a7c360c5f40fea27106fb943de4ccf6755"],
    &["77bbaf9a7c3833d4b3dd9bb2293200d961df36ebb614dfd030466036121838a5ebbb1438fc9e43208228e25918d9c419"],
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::binding_verdicts::test_quote::QuoteBuilder;
    use crate::report::Status;

    fn m(byte: u8) -> Measurement {
        [byte; 48]
    }

    fn quote(mrtd: u8, mrseam: u8, rtmr: [u8; 4]) -> Quote {
        let mut b = QuoteBuilder::new();
        b.mr_td = m(mrtd);
        b.mr_seam = m(mrseam);
        b.rtmr = rtmr.map(m);
        b.quote()
    }

    fn policy(mrtd: &[u8], mrseam: &[u8], r0: &[u8], r1: &[u8], r2: &[u8]) -> MeasurementPolicy {
        let l = |v: &[u8]| v.iter().map(|&b| m(b)).collect();
        MeasurementPolicy { mrtd: l(mrtd), mrseam: l(mrseam), rtmr0: l(r0), rtmr1: l(r1), rtmr2: l(r2), rtmr3: vec![] }
    }

    #[test]
    fn defaults_are_well_formed() {
        let all: [&[&[&str]; 5]; 6] = [&VENICE, &NEARDIRECT, &NEARCLOUD_MODEL, &NEARCLOUD_GATEWAY, &NANOGPT, &CHUTES];
        for table in all {
            for list in table.iter() {
                assert!(!list.is_empty());
                for h in list.iter() {
                    assert_eq!(h.len(), 96, "{h}");
                    assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{h}");
                    assert_eq!(hex::encode(decode_constant(h)), *h);
                }
            }
        }
    }

    #[test]
    fn default_shapes_per_provider() {
        let counts = |p: &MeasurementPolicy| {
            [p.mrtd.len(), p.mrseam.len(), p.rtmr0.len(), p.rtmr1.len(), p.rtmr2.len(), p.rtmr3.len()]
        };
        assert_eq!(counts(&MeasurementPolicy::default_for(ProviderKind::Venice, false)), [2, 4, 1, 1, 1, 0]);
        assert_eq!(counts(&MeasurementPolicy::default_for(ProviderKind::NearDirect, false)), [2, 4, 1, 1, 1, 0]);
        assert_eq!(counts(&MeasurementPolicy::default_for(ProviderKind::NearCloud, false)), [2, 4, 2, 1, 1, 0]);
        assert_eq!(counts(&MeasurementPolicy::default_for(ProviderKind::NearCloud, true)), [2, 4, 1, 1, 1, 0]);
        assert_eq!(counts(&MeasurementPolicy::default_for(ProviderKind::NanoGpt, false)), [2, 4, 2, 4, 5, 0]);
        assert_eq!(counts(&MeasurementPolicy::default_for(ProviderKind::Chutes, false)), [1, 6, 1, 1, 1, 0]);
        assert_eq!(MeasurementPolicy::default_for(ProviderKind::PhalaCloud, false), MeasurementPolicy::empty());
        for p in ProviderKind::ALL {
            if p != ProviderKind::NearCloud {
                assert_eq!(MeasurementPolicy::default_for(p, true), MeasurementPolicy::empty(), "{p:?}");
            }
        }
        // The two Chutes-only TDX modules do not leak into dstack policies.
        let sek8s_module = decode_constant(CHUTES[1][4]);
        assert!(!MeasurementPolicy::default_for(ProviderKind::Venice, false).allows(Register::Mrseam, &sek8s_module));
        // Returned values are copies: changing one does not change the next.
        let mut p = MeasurementPolicy::default_for(ProviderKind::Venice, false);
        p.mrtd.clear();
        assert_eq!(MeasurementPolicy::default_for(ProviderKind::Venice, false).mrtd.len(), 2);
    }

    #[test]
    fn measurement_pass_and_lists_named() {
        let q = quote(1, 2, [3, 4, 5, 6]);
        let (v, _, _) = verdicts(&policy(&[1], &[2], &[], &[], &[]), &q);
        assert_eq!((v.status, v.detail.as_str()), (Status::Pass, "MRTD/MRSEAM policy matched"));
        let (v, _, _) = verdicts(&policy(&[1], &[], &[], &[], &[]), &q);
        assert_eq!(v.detail, "MRTD policy matched");
        let (v, _, _) = verdicts(&policy(&[], &[9, 2], &[], &[], &[]), &q);
        assert_eq!(v.detail, "MRSEAM policy matched");
    }

    #[test]
    fn measurement_fail_paths_mrtd_first() {
        let q = quote(1, 2, [3, 4, 5, 6]);
        // Both wrong: MRTD is reported.
        let (v, _, _) = verdicts(&policy(&[7], &[8], &[], &[], &[]), &q);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.detail, "MRTD not in policy allowlist: 0101010101010101...");
        // MRTD fine, MRSEAM wrong.
        let (v, _, _) = verdicts(&policy(&[1], &[8], &[], &[], &[]), &q);
        assert_eq!(v.detail, "MRSEAM not in policy allowlist: 0202020202020202...");
        // Only an MRSEAM list, wrong.
        let (v, _, _) = verdicts(&policy(&[], &[8], &[], &[], &[]), &q);
        assert_eq!(v.status, Status::Fail);
    }

    #[test]
    fn skips_without_lists() {
        let q = quote(1, 2, [3, 4, 5, 6]);
        let (a, b, c) = verdicts(&MeasurementPolicy::empty(), &q);
        assert_eq!((a.status, b.status, c.status), (Status::Skip, Status::Skip, Status::Skip));
        assert_eq!(a.detail, "no MRSEAM/MRTD measurement policy configured");
        assert_eq!(b.detail, "no RTMR0 measurement policy configured");
        assert_eq!(c.detail, "no RTMR1/RTMR2 measurement policy configured");
        // An RTMR3 list alone changes nothing.
        let mut p = MeasurementPolicy::empty();
        p.rtmr3.push(m(0xEE));
        let (a, b, c) = verdicts(&p, &q);
        assert_eq!((a.status, b.status, c.status), (Status::Skip, Status::Skip, Status::Skip));
        let (a, b, c) = unparsed_verdicts(true);
        assert_eq!((a.status, b.status, c.status), (Status::Skip, Status::Skip, Status::Skip));
        assert!(a.detail.contains("gateway"));
    }

    #[test]
    fn hardware_config_rules() {
        let q = quote(1, 2, [3, 4, 5, 6]);
        let (_, v, _) = verdicts(&policy(&[], &[], &[3], &[], &[]), &q);
        assert_eq!((v.status, v.detail.as_str()), (Status::Pass, "RTMR0 policy matched"));
        let (_, v, _) = verdicts(&policy(&[], &[], &[9], &[], &[]), &q);
        assert_eq!(
            (v.status, v.detail.as_str()),
            (Status::Fail, "RTMR[0] not in policy allowlist: 0303030303030303...")
        );
    }

    #[test]
    fn boot_config_rules() {
        let q = quote(1, 2, [3, 4, 5, 6]);
        let status = |r1: &[u8], r2: &[u8]| {
            let (_, _, v) = verdicts(&policy(&[], &[], &[], r1, r2), &q);
            (v.status, v.detail)
        };
        assert_eq!(status(&[4], &[5]), (Status::Pass, "RTMR1/RTMR2 policy matched".into()));
        assert_eq!(status(&[4], &[]).0, Status::Pass);
        assert_eq!(status(&[], &[5]).0, Status::Pass);
        // RTMR1 is checked first.
        assert_eq!(status(&[9], &[9]), (Status::Fail, "RTMR[1] not in policy allowlist: 0404040404040404...".into()));
        assert_eq!(status(&[4], &[9]), (Status::Fail, "RTMR[2] not in policy allowlist: 0505050505050505...".into()));
        assert_eq!(status(&[], &[9]).0, Status::Fail);
    }

    #[test]
    fn gateway_wording() {
        let q = quote(1, 2, [3, 4, 5, 6]);
        let (a, b, c) = gateway_verdicts(&policy(&[1], &[2], &[3], &[4], &[5]), &q);
        assert_eq!(a.detail, "gateway MRTD/MRSEAM policy matched");
        assert_eq!(b.detail, "gateway RTMR0 policy matched");
        assert_eq!(c.detail, "gateway RTMR1/RTMR2 policy matched");
        let (a, b, c) = gateway_verdicts(&policy(&[9], &[2], &[9], &[4], &[9]), &q);
        assert_eq!(a.detail, "gateway MRTD not in policy allowlist: 0101010101010101...");
        assert_eq!(b.detail, "gateway RTMR[0] not in policy allowlist: 0303030303030303...");
        assert_eq!(c.detail, "gateway RTMR[2] not in gateway policy allowlist: 0505050505050505...");
        let (a, _, _) = gateway_verdicts(&MeasurementPolicy::empty(), &q);
        assert_eq!(a.detail, "no gateway MRSEAM/MRTD measurement policy configured");
    }

    #[test]
    fn configured_lists_are_validated_and_replace_defaults() {
        let good = format!("  0X{}  ", "AB".repeat(48));
        let mut p = MeasurementPolicy::default_for(ProviderKind::Venice, false);
        p.set_hex(Register::Rtmr0, &[good.as_str()]).expect("valid");
        assert_eq!(p.rtmr0, vec![[0xAB; 48]]);
        assert_eq!(p.mrtd.len(), 2, "other lists keep their defaults");

        let empty: [&str; 0] = [];
        assert_eq!(p.set_hex(Register::Mrtd, &empty), Err(PolicyError::EmptyList { list: "MRTD" }));
        assert!(matches!(p.set_hex(Register::Mrtd, &["zz".repeat(48)]), Err(PolicyError::Hex { index: 0, .. })));
        assert_eq!(
            p.set_hex(Register::Mrseam, &["ab".repeat(48), "ab".repeat(47)]),
            Err(PolicyError::Length { list: "MRSEAM", index: 1, len: 47 })
        );
        assert_eq!(p.mrtd.len(), 2, "a refused list leaves the policy unchanged");
        let msg = PolicyError::EmptyList { list: "MRTD" }.to_string();
        assert!(msg.contains("remove the key"), "{msg}");

        let r1 = ["cd".repeat(48)];
        let built = MeasurementPolicy::from_hex([None, None, None, Some(&r1[..]), None, None]).expect("valid");
        assert_eq!(built.rtmr1, vec![[0xCD; 48]]);
        assert!(built.mrtd.is_empty());
        assert_eq!(Register::Rtmr2.config_key(true), "gateway_rtmr2_allow");
        assert_eq!(Register::Mrseam.config_key(false), "mrseam_allow");
    }
}
