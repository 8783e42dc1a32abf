//! Supply-chain policies: which container image repositories a provider may run, and what
//! Sigstore evidence each must have (`attestation-core.md` §10.5; the reference's seed values).
//!
//! Venice shares neardirect's policy; nearcloud extends it with gateway images; nanogpt lists
//! compose-pinned images only; Phala Cloud and Chutes have none.

use crate::provider::ProviderKind;

/// GitHub Actions' OIDC issuer.
pub const GITHUB_OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The evidence an image must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvenanceKind {
    /// A Fulcio certificate whose issuer, identity and source repository match the policy.
    FulcioSigned,
    /// Any entry in the log (optionally signed by a given key).
    SigstorePresent,
    /// Not expected in the log: the digest pinned in the attested compose file is the evidence.
    ComposeBindingOnly,
}

/// The policy for one image repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePolicy {
    /// Normalised repository (`owner/name`, lower case).
    pub repo: &'static str,
    /// Allowed in the model TD's compose file.
    pub model_tier: bool,
    /// Allowed in the gateway TD's compose file.
    pub gateway_tier: bool,
    /// Evidence required.
    pub kind: ProvenanceKind,
    /// SigstorePresent: the signing key's fingerprint (hex SHA-256 of its SPKI), if pinned.
    pub key_fingerprint: &'static str,
    /// FulcioSigned: required OIDC issuer.
    pub oidc_issuer: &'static str,
    /// FulcioSigned: required certificate identity (SAN URI), if any.
    pub oidc_identity: &'static str,
    /// FulcioSigned: accepted source repositories (id or URL).
    pub source_repos: &'static [&'static str],
    /// Skip the DSSE envelope signature check (real Rekor `dsse` entries carry no envelope).
    pub no_dsse: bool,
}

impl ImagePolicy {
    const fn compose_only(repo: &'static str) -> Self {
        ImagePolicy {
            repo,
            model_tier: true,
            gateway_tier: false,
            kind: ProvenanceKind::ComposeBindingOnly,
            key_fingerprint: "",
            oidc_issuer: "",
            oidc_identity: "",
            source_repos: &[],
            no_dsse: false,
        }
    }

    const fn github(repo: &'static str, identity: &'static str, sources: &'static [&'static str]) -> Self {
        ImagePolicy {
            repo,
            model_tier: false,
            gateway_tier: true,
            kind: ProvenanceKind::FulcioSigned,
            key_fingerprint: "",
            oidc_issuer: GITHUB_OIDC_ISSUER,
            oidc_identity: identity,
            source_repos: sources,
            no_dsse: true,
        }
    }
}

/// A provider's supply-chain policy: image entries in declaration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupplyChainPolicy {
    /// The entries.
    pub images: Vec<ImagePolicy>,
}

impl SupplyChainPolicy {
    /// The reference's default policy for `provider`, or `None` (Phala Cloud, Chutes).
    pub fn default_for(provider: ProviderKind) -> Option<SupplyChainPolicy> {
        match provider {
            ProviderKind::NearDirect | ProviderKind::Venice => Some(neardirect()),
            ProviderKind::NearCloud => Some(nearcloud()),
            ProviderKind::NanoGpt => Some(nanogpt()),
            _ => None,
        }
    }

    /// The entry for `repo` (trimmed, case-insensitive), if any.
    pub fn lookup(&self, repo: &str) -> Option<&ImagePolicy> {
        let want = repo.trim().to_lowercase();
        self.images.iter().find(|i| i.repo.trim().to_lowercase() == want)
    }

    /// True if `repo` has an entry allowed in the model tier.
    pub fn allowed_in_model(&self, repo: &str) -> bool {
        self.lookup(repo).is_some_and(|i| i.model_tier)
    }

    /// True if `repo` has an entry allowed in the gateway tier.
    pub fn allowed_in_gateway(&self, repo: &str) -> bool {
        self.lookup(repo).is_some_and(|i| i.gateway_tier)
    }

    /// True if any entry is allowed in the gateway tier.
    pub fn has_gateway_images(&self) -> bool {
        self.images.iter().any(|i| i.gateway_tier)
    }

    /// Model-tier repositories, in declaration order.
    pub fn model_repo_names(&self) -> Vec<&'static str> {
        self.images.iter().filter(|i| i.model_tier).map(|i| i.repo).collect()
    }

    /// Gateway-tier repositories, in declaration order.
    pub fn gateway_repo_names(&self) -> Vec<&'static str> {
        self.images.iter().filter(|i| i.gateway_tier).map(|i| i.repo).collect()
    }
}

fn neardirect() -> SupplyChainPolicy {
    SupplyChainPolicy {
        images: vec![
            ImagePolicy {
                kind: ProvenanceKind::SigstorePresent,
                key_fingerprint: "25bcab4ec8eede1e3091a14692126798c23986832ae6e5948d6f7eb0a928ab0b",
                ..ImagePolicy::compose_only("datadog/agent")
            },
            ImagePolicy::compose_only("certbot/dns-cloudflare"),
            ImagePolicy {
                model_tier: true,
                gateway_tier: false,
                ..ImagePolicy::github(
                    "nearaidev/compose-manager",
                    "https://github.com/nearai/compose-manager/.github/workflows/build.yml@refs/heads/master",
                    &["nearai/compose-manager", "https://github.com/nearai/compose-manager"],
                )
            },
        ],
    }
}

fn nearcloud() -> SupplyChainPolicy {
    let mut p = neardirect();
    for i in &mut p.images {
        if i.repo == "datadog/agent" {
            i.gateway_tier = true;
        }
    }
    p.images.extend([
        ImagePolicy::github(
            "nearaidev/dstack-vpc-client",
            "https://github.com/nearai/dstack-vpc-client/.github/workflows/build.yml@refs/heads/main",
            &["nearai/dstack-vpc-client", "https://github.com/nearai/dstack-vpc-client"],
        ),
        ImagePolicy::github(
            "nearaidev/dstack-vpc",
            "https://github.com/nearai/dstack-vpc/.github/workflows/build.yml@refs/heads/main",
            &["nearai/dstack-vpc", "https://github.com/nearai/dstack-vpc"],
        ),
        ImagePolicy {
            model_tier: false,
            gateway_tier: true,
            kind: ProvenanceKind::SigstorePresent,
            ..ImagePolicy::compose_only("alpine")
        },
        ImagePolicy::github(
            "nearaidev/cloud-api",
            "https://github.com/nearai/cloud-api/.github/workflows/build.yml@refs/heads/main",
            &["nearai/cloud-api", "https://github.com/nearai/cloud-api"],
        ),
        ImagePolicy::github(
            "nearaidev/cvm-ingress",
            "https://github.com/nearai/cvm-ingress/.github/workflows/build-push.yml@refs/heads/main",
            &["nearai/cvm-ingress", "https://github.com/nearai/cvm-ingress"],
        ),
    ]);
    p
}

fn nanogpt() -> SupplyChainPolicy {
    let repos = [
        "alpine",
        "dstacktee/dstack-ingress",
        "dstacktee/vllm-proxy",
        "haproxy",
        "lmsysorg/sglang",
        "mondaylord/vllm-openai",
        "phalanetwork/vllm-proxy",
        "python",
        "redis",
        "vllm/vllm-openai",
    ];
    SupplyChainPolicy { images: repos.into_iter().map(ImagePolicy::compose_only).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_policies() {
        let nd = SupplyChainPolicy::default_for(ProviderKind::NearDirect).unwrap();
        assert_eq!(SupplyChainPolicy::default_for(ProviderKind::Venice), Some(nd.clone()));
        assert_eq!(nd.model_repo_names(), ["datadog/agent", "certbot/dns-cloudflare", "nearaidev/compose-manager"]);
        assert!(!nd.has_gateway_images());
        assert_eq!(nd.lookup(" NearAIdev/Compose-Manager ").map(|i| i.kind), Some(ProvenanceKind::FulcioSigned));
        let nc = SupplyChainPolicy::default_for(ProviderKind::NearCloud).unwrap();
        assert!(nc.allowed_in_gateway("datadog/agent") && nc.allowed_in_model("datadog/agent"));
        assert!(nc.allowed_in_gateway("alpine") && !nc.allowed_in_model("alpine"));
        assert!(!nc.allowed_in_gateway("nearaidev/compose-manager"));
        assert_eq!(nc.gateway_repo_names().len(), 6);
        let ng = SupplyChainPolicy::default_for(ProviderKind::NanoGpt).unwrap();
        assert!(ng.images.iter().all(|i| i.kind == ProvenanceKind::ComposeBindingOnly && i.model_tier));
        assert_eq!(SupplyChainPolicy::default_for(ProviderKind::Chutes), None);
        assert_eq!(SupplyChainPolicy::default_for(ProviderKind::PhalaCloud), None);
    }
}
