//! The roots a verification trusts, as one value: Intel's SGX root (TDX quotes and PCS
//! collateral), NVIDIA's device root (GPU evidence), the Rekor log key with its Fulcio CA
//! (supply chain) and the Proof of Cloud alliance key.
//!
//! Production code can only build [`TrustRoots::production`] (also its `Default`): every part is
//! compiled in, and nothing a provider sends can replace it. `TrustRoots::for_sim` exists only
//! in unit tests and with the `sim` feature, for simulated providers and `teep demo`.

use crate::attestation::nvidia::NvidiaAnchor;
use crate::attestation::poc::PocKey;
use crate::attestation::sigstore::LogKey;
use crate::attestation::tdx::TrustAnchor;

/// The trust roots of a verification. See the module documentation.
#[derive(Clone, Debug)]
pub struct TrustRoots {
    intel: TrustAnchor,
    nvidia: NvidiaAnchor,
    rekor: Option<LogKey>,
    proof_of_cloud: PocKey,
    production: bool,
}

impl TrustRoots {
    /// The pinned production roots: Intel SGX Root CA, NVIDIA Device Identity CA, the
    /// `rekor.sigstore.dev` key with Sigstore's Fulcio CA, and the Proof of Cloud alliance key.
    pub fn production() -> TrustRoots {
        TrustRoots {
            intel: TrustAnchor::intel(),
            nvidia: NvidiaAnchor::nvidia(),
            rekor: LogKey::rekor(),
            proof_of_cloud: PocKey::alliance(),
            production: true,
        }
    }

    /// Test roots for a simulation (never production: [`TrustRoots::is_production`] is false).
    /// Only in unit tests and with the `sim` feature.
    #[cfg(any(test, feature = "sim"))]
    pub fn for_sim(intel: TrustAnchor, nvidia: NvidiaAnchor, rekor: LogKey, proof_of_cloud: PocKey) -> TrustRoots {
        TrustRoots { intel, nvidia, rekor: Some(rekor), proof_of_cloud, production: false }
    }

    /// The root TDX PCK chains and PCS collateral must chain to.
    pub fn intel(&self) -> &TrustAnchor {
        &self.intel
    }

    /// The root GPU certificate chains must end in.
    pub fn nvidia(&self) -> &NvidiaAnchor {
        &self.nvidia
    }

    /// The transparency log (and its Fulcio CA) supply-chain entries are checked against;
    /// `None` only if the embedded Rekor key failed to parse (then nothing verifies).
    pub fn rekor(&self) -> Option<&LogKey> {
        self.rekor.as_ref()
    }

    /// The key Proof of Cloud final tokens must be signed with.
    pub fn proof_of_cloud(&self) -> &PocKey {
        &self.proof_of_cloud
    }

    /// True for [`TrustRoots::production`].
    pub fn is_production(&self) -> bool {
        self.production
    }
}

impl Default for TrustRoots {
    /// [`TrustRoots::production`].
    fn default() -> Self {
        TrustRoots::production()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_roots_are_the_pinned_ones() {
        let t = TrustRoots::default();
        assert!(t.is_production());
        assert!(t.intel().is_intel());
        assert!(t.nvidia().is_nvidia());
        let rekor = t.rekor().expect("embedded Rekor key");
        assert_eq!(hex::encode(rekor.log_id), crate::attestation::sigstore::trust::REKOR_LOG_ID_HEX);
        assert!(rekor.fulcio.is_sigstore());
        assert_eq!(t.proof_of_cloud(), &PocKey::alliance());
    }
}
