//! The providers teep talks to.

pub mod descriptor;
pub mod parse;

use std::fmt;
use std::str::FromStr;

/// A supported provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderKind {
    /// Venice: dstack attestation, secp256k1 ECDH + AES-256-GCM E2EE.
    Venice,
    /// NEAR AI, direct to the model node: attest-then-pin TLS, plus E2EE.
    NearDirect,
    /// NEAR AI cloud gateway: attested gateway + pinned TLS + E2EE.
    NearCloud,
    /// Chutes: per-instance evidence, ML-KEM-768 E2EE with a nonce pool.
    Chutes,
    /// Phala Cloud (RedPill gateway).
    PhalaCloud,
    /// NanoGPT gateway.
    NanoGpt,
}

impl ProviderKind {
    /// All providers.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Venice,
        ProviderKind::NearDirect,
        ProviderKind::NearCloud,
        ProviderKind::Chutes,
        ProviderKind::PhalaCloud,
        ProviderKind::NanoGpt,
    ];

    /// The provider's name as used on the command line, in `provider:model`, and in captures.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Venice => "venice",
            ProviderKind::NearDirect => "neardirect",
            ProviderKind::NearCloud => "nearcloud",
            ProviderKind::Chutes => "chutes",
            ProviderKind::PhalaCloud => "phalacloud",
            ProviderKind::NanoGpt => "nanogpt",
        }
    }

    /// The environment variable holding the provider's API key.
    pub fn api_key_env(self) -> &'static str {
        match self {
            ProviderKind::Venice => "VENICE_API_KEY",
            ProviderKind::NearDirect | ProviderKind::NearCloud => "NEARAI_API_KEY",
            ProviderKind::Chutes => "CHUTES_API_KEY",
            ProviderKind::PhalaCloud => "PHALA_API_KEY",
            ProviderKind::NanoGpt => "NANOGPT_API_KEY",
        }
    }

    /// True where end-to-end encryption is on by default.
    pub fn e2ee_by_default(self) -> bool {
        matches!(self, ProviderKind::Venice | ProviderKind::NearDirect | ProviderKind::NearCloud | ProviderKind::Chutes)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that is not one of the six.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?} (known: venice, neardirect, nearcloud, chutes, phalacloud, nanogpt)")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}
