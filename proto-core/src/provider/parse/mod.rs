//! Provider attestation parsers: provider JSON → `RawAttestation`.
