//! The TOML configuration file: strict parsing, allow-fail and measurement-policy merging, and
//! API-key resolution (`proxy-and-cli.md` §13).
//!
//! Sans-IO like the rest of the crate: [`Config::parse`] takes the file's TEXT, and
//! [`Config::resolve_api_key`] takes the environment as a lookup closure. Reading
//! `TEEP_CONFIG`, the file itself and the environment, checking the file's permissions, and
//! prefixing errors with `loading config file "<path>": ` is the runtime's job.
//!
//! The schema (§13.4) is strict: an unknown key, a value of the wrong type, an unknown
//! allow-fail factor, a malformed measurement allow-list or an out-of-range `max_conns` refuses
//! the whole file, with the reference loader's message. Provider section names are kept as
//! given; they are checked when a provider is built.
//!
//! Deliberate differences from the reference loader:
//! * allow-fail names are accepted in both spellings, the current `tee_*` and the seed's
//!   `tdx_*` (the reference seed knows only `tdx_*`);
//! * keys match case-sensitively (the reference's TOML library also matches struct fields
//!   case-insensitively, so `API_KEY = …` loaded there; here it is an unknown key);
//! * `providers` must be a table (the reference silently ignored a non-table value);
//! * with several errors in one file, the first in a fixed order is reported (providers by name,
//!   values in document order) where the reference's map iteration order was random;
//! * syntax errors carry the Rust TOML parser's wording after `TOML decode: toml: line N, column C: `.

mod gofmt;
mod parse;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use crate::attestation::policy::{MeasurementPolicy, Register};
use crate::provider::ProviderKind;
use crate::report::{AllowFail, Factor};
use crate::verify::VerifyConfig;

/// Bytes in a TDX measurement register value (SHA-384).
const MEASUREMENT_LEN: usize = 48;

/// Largest accepted `max_conns`.
pub const MAX_CONNS_LIMIT: u32 = 10_000;

/// A parsed configuration file. [`Config::default`] is "no file": no providers, no lists, so
/// every merge falls through to the built-in defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Root `allow_fail` (the preferred global list). `Some(vec![])` enforces every factor.
    pub allow_fail: Option<Vec<Factor>>,
    /// Legacy `[policy].allow_fail`, used only when the root list is absent. Parsed (and
    /// validated) only in that case; with a root list present it is ignored and left `None`.
    pub policy_allow_fail: Option<Vec<Factor>>,
    /// `max_conns`, 1..=[`MAX_CONNS_LIMIT`] (latest-only key).
    pub max_conns: Option<u32>,
    /// The global `[policy]` measurement allow-lists.
    pub policy: PolicyOverrides,
    /// `[providers.<name>]` sections by name, including names that are not supported providers.
    pub providers: BTreeMap<String, ProviderSettings>,
}

/// One `[providers.<name>]` section, as written. Absent keys are `None`; the defaults for a
/// TOML-defined provider (`e2ee` false, empty `base_url`) are applied by whoever builds it.
///
/// `Debug` never shows the API key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProviderSettings {
    /// `api_key`: the key itself (secret).
    pub api_key: Option<String>,
    /// `api_key_env`: the name of an environment variable holding the key; wins over `api_key`
    /// when that variable is set and non-empty.
    pub api_key_env: Option<String>,
    /// `base_url`.
    pub base_url: Option<String>,
    /// `e2ee`.
    pub e2ee: Option<bool>,
    /// `allow_fail` for this provider. `Some(vec![])` enforces every factor.
    pub allow_fail: Option<Vec<Factor>>,
    /// `[providers.<name>.policy]` allow-lists (its `allow_fail` is accepted and ignored).
    pub policy: PolicyOverrides,
}

/// Measurement allow-lists from one `[policy]` section. `None` = key absent (no policy from this
/// section); a present list is never empty. Values are decoded 48-byte measurements, duplicates
/// removed, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyOverrides {
    /// `mrtd_allow`.
    pub mrtd: Option<Vec<[u8; 48]>>,
    /// `mrseam_allow`.
    pub mrseam: Option<Vec<[u8; 48]>>,
    /// `rtmr0_allow`.
    pub rtmr0: Option<Vec<[u8; 48]>>,
    /// `rtmr1_allow`.
    pub rtmr1: Option<Vec<[u8; 48]>>,
    /// `rtmr2_allow`.
    pub rtmr2: Option<Vec<[u8; 48]>>,
    /// `rtmr3_allow`.
    pub rtmr3: Option<Vec<[u8; 48]>>,
    /// `gateway_mrtd_allow` (the nearcloud gateway's own quote).
    pub gateway_mrtd: Option<Vec<[u8; 48]>>,
    /// `gateway_mrseam_allow`.
    pub gateway_mrseam: Option<Vec<[u8; 48]>>,
    /// `gateway_rtmr0_allow`.
    pub gateway_rtmr0: Option<Vec<[u8; 48]>>,
    /// `gateway_rtmr1_allow`.
    pub gateway_rtmr1: Option<Vec<[u8; 48]>>,
    /// `gateway_rtmr2_allow`.
    pub gateway_rtmr2: Option<Vec<[u8; 48]>>,
    /// `gateway_rtmr3_allow`.
    pub gateway_rtmr3: Option<Vec<[u8; 48]>>,
}

/// The TOML keys of the twelve allow-lists, in [`PolicyOverrides::lists`] order (also the
/// order in which they are validated).
const LIST_KEYS: [&str; 12] = [
    "mrtd_allow",
    "mrseam_allow",
    "rtmr0_allow",
    "rtmr1_allow",
    "rtmr2_allow",
    "rtmr3_allow",
    "gateway_mrtd_allow",
    "gateway_mrseam_allow",
    "gateway_rtmr0_allow",
    "gateway_rtmr1_allow",
    "gateway_rtmr2_allow",
    "gateway_rtmr3_allow",
];

impl PolicyOverrides {
    /// The twelve lists paired with their TOML keys: the six registers, then the gateway six.
    pub fn lists(&self) -> [(&'static str, &Option<Vec<[u8; 48]>>); 12] {
        let Self {
            mrtd,
            mrseam,
            rtmr0,
            rtmr1,
            rtmr2,
            rtmr3,
            gateway_mrtd,
            gateway_mrseam,
            gateway_rtmr0,
            gateway_rtmr1,
            gateway_rtmr2,
            gateway_rtmr3,
        } = self;
        let lists = [
            mrtd,
            mrseam,
            rtmr0,
            rtmr1,
            rtmr2,
            rtmr3,
            gateway_mrtd,
            gateway_mrseam,
            gateway_rtmr0,
            gateway_rtmr1,
            gateway_rtmr2,
            gateway_rtmr3,
        ];
        std::array::from_fn(|i| (LIST_KEYS[i], lists[i]))
    }

    fn lists_mut(&mut self) -> [&mut Option<Vec<[u8; 48]>>; 12] {
        let Self {
            mrtd,
            mrseam,
            rtmr0,
            rtmr1,
            rtmr2,
            rtmr3,
            gateway_mrtd,
            gateway_mrseam,
            gateway_rtmr0,
            gateway_rtmr1,
            gateway_rtmr2,
            gateway_rtmr3,
        } = self;
        [
            mrtd,
            mrseam,
            rtmr0,
            rtmr1,
            rtmr2,
            rtmr3,
            gateway_mrtd,
            gateway_mrseam,
            gateway_rtmr0,
            gateway_rtmr1,
            gateway_rtmr2,
            gateway_rtmr3,
        ]
    }

    /// True when no list is set.
    pub fn is_empty(&self) -> bool {
        self.lists().iter().all(|(_, l)| l.is_none())
    }

    /// Field by field: `self`'s list where set, else `fallback`'s (§13.6).
    pub fn or(&self, fallback: &PolicyOverrides) -> PolicyOverrides {
        let mut out = self.clone();
        for (slot, (_, global)) in out.lists_mut().into_iter().zip(fallback.lists()) {
            if slot.is_none() {
                slot.clone_from(global);
            }
        }
        out
    }
}

impl Config {
    /// Parses and validates a configuration file's text against the strict schema (§13.4).
    pub fn parse(toml_text: &str) -> Result<Config, ConfigError> {
        parse::parse(toml_text)
    }

    /// The `[providers.<name>]` section of a supported provider, if the file has one.
    pub fn provider(&self, provider: ProviderKind) -> Option<&ProviderSettings> {
        self.providers.get(provider.name())
    }

    /// The effective allow-fail set for `provider` (§13.5), first defined wins: the provider's
    /// own list, the root list, `[policy].allow_fail`, the provider's built-in default. An
    /// explicit empty list counts as defined and enforces everything. `offline` then adds every
    /// online factor.
    pub fn allow_fail_for(&self, provider: ProviderKind, offline: bool) -> AllowFail {
        let configured = self
            .provider(provider)
            .and_then(|p| p.allow_fail.as_ref())
            .or(self.allow_fail.as_ref())
            .or(self.policy_allow_fail.as_ref());
        let set = match configured {
            Some(list) => allow_fail_set(list),
            None => AllowFail::provider_default(provider),
        };
        if offline { set.with_online_factors() } else { set }
    }

    /// The configured measurement allow-lists for `provider` (§13.6), per field: the provider's
    /// `[providers.<name>.policy]` list if set, else the global `[policy]` list. Fields left
    /// `None` take the provider's built-in default, which is applied elsewhere.
    pub fn policy_overrides_for(&self, provider: ProviderKind) -> PolicyOverrides {
        match self.provider(provider) {
            Some(p) => p.policy.or(&self.policy),
            None => self.policy.clone(),
        }
    }

    /// The effective measurement policy for `provider`'s model TD (`gateway == false`) or its
    /// gateway TD (§13.6): register by register, the configured list (provider section, else
    /// global) replaces the built-in default; registers not configured keep the default.
    pub fn measurement_policy(&self, provider: ProviderKind, gateway: bool) -> MeasurementPolicy {
        let mut policy = MeasurementPolicy::default_for(provider, gateway);
        let overrides = self.policy_overrides_for(provider);
        let lists = overrides.lists();
        let own = if gateway { &lists[6..] } else { &lists[..6] };
        for (register, (_, list)) in Register::ALL.into_iter().zip(own) {
            if let Some(values) = list {
                policy.replace(register, values.clone());
            }
        }
        policy
    }

    /// Applies this file to a verification of `provider`: the merged allow-fail set (§13.5)
    /// and the merged measurement policies (§13.6). `offline` adds the online factors to the
    /// allow-fail set.
    pub fn apply(&self, provider: ProviderKind, offline: bool, config: &mut VerifyConfig) {
        config.allow_fail = self.allow_fail_for(provider, offline);
        config.model_policy = self.measurement_policy(provider, false);
        config.gateway_policy = self.measurement_policy(provider, true);
    }

    /// The API key for `provider` (§13.3), looking variables up through `env`:
    /// 1. a TOML section's key: the variable named by `api_key_env` if set and non-empty,
    ///    else `api_key`;
    /// 2. the provider's well-known variable (`VENICE_API_KEY`, `NEARAI_API_KEY` for both NEAR
    ///    providers, …), if non-empty, replaces it.
    ///
    /// `None` when no non-empty key results (the provider may still exist, keyless).
    pub fn resolve_api_key(&self, provider: ProviderKind, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
        if let Some(key) = non_empty(env(provider.api_key_env())) {
            return Some(key);
        }
        let section = self.provider(provider)?;
        let from_named_env =
            section.api_key_env.as_deref().filter(|name| !name.is_empty()).and_then(|name| non_empty(env(name)));
        from_named_env.or_else(|| non_empty(section.api_key.clone()))
    }
}

/// An allow-fail set from already-validated factors.
fn allow_fail_set(list: &[Factor]) -> AllowFail {
    let names: Vec<&str> = list.iter().map(|f| f.name()).collect();
    // Cannot fail: every name comes from `Factor::name`. Were it to, the empty set enforces
    // every factor (fail closed).
    AllowFail::from_names(&names).unwrap_or_default()
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("api_key", &self.api_key.as_ref().map(|_| Redacted))
            .field("api_key_env", &self.api_key_env)
            .field("base_url", &self.base_url)
            .field("e2ee", &self.e2ee)
            .field("allow_fail", &self.allow_fail)
            .field("policy", &self.policy)
            .finish()
    }
}

/// Stands in for a secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a configuration file was refused. `Display` is one line, the reference loader's reason
/// (the runtime prefixes `loading config file "<path>": `).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// TOML syntax error, or a value of the wrong type for its key.
    #[error("TOML decode: {0}")]
    Decode(String),
    /// Keys outside the schema, as dotted paths in document order.
    #[error("unknown config keys: [{}]", .0.join(" "))]
    UnknownKeys(Vec<String>),
    /// `max_conns` is zero or negative.
    #[error("max_conns must be a positive integer, got {0}")]
    MaxConnsNotPositive(i64),
    /// `max_conns` is above [`MAX_CONNS_LIMIT`].
    #[error("max_conns exceeds maximum {MAX_CONNS_LIMIT}: got {0}")]
    MaxConnsTooLarge(i64),
    /// An allow-fail list names no known factor.
    #[error("{list}: unknown allow_fail factor {}", gofmt::quote(.name))]
    UnknownFactor {
        /// Which list: `allow_fail` (root or `[policy]`) or `providers.<name>.allow_fail`.
        list: String,
        /// The offending name.
        name: String,
    },
    /// A measurement allow-list is malformed.
    #[error("{}{field} {problem}", .section.as_ref().map(|s| format!("{s}: ")).unwrap_or_default())]
    Allowlist {
        /// `providers.<name>.policy` or `providers.<name>.policy (gateway)` for a provider
        /// section; `None` for the global `[policy]`.
        section: Option<String>,
        /// The list, as the reference names it: `policy.mrtd_allow`, `policy.gateway_rtmr1_allow`, …
        field: String,
        /// What is wrong with it.
        problem: AllowlistProblem,
    },
}

/// What is wrong with a measurement allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowlistProblem {
    /// `= []`: present but empty.
    Empty,
    /// An entry is not hex after normalisation.
    InvalidHex {
        /// The entry as written.
        entry: String,
        /// Go's `encoding/hex` message.
        reason: String,
    },
    /// An entry does not decode to 48 bytes.
    WrongLength {
        /// The entry as written.
        entry: String,
        /// Bytes it decodes to.
        len: usize,
    },
}

impl fmt::Display for AllowlistProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowlistProblem::Empty => {
                f.write_str("is set but empty; remove the key to disable policy, or add at least one hex value")
            }
            AllowlistProblem::InvalidHex { entry, reason } => {
                write!(f, "contains invalid hex {}: {reason}", gofmt::quote(entry))
            }
            AllowlistProblem::WrongLength { entry, len } => {
                write!(f, "entry {} decodes to {len} bytes, want {MEASUREMENT_LEN}", gofmt::quote(entry))
            }
        }
    }
}
