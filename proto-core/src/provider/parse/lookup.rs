//! The two model lookups that precede attestation: NEAR's model → host endpoint list and
//! Chutes' model → chute UUID list.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::attestation::raw::ParseError;

/// Largest lookup answer accepted.
pub const LOOKUP_BODY_LIMIT: usize = 1 << 20;

/// Parses NEAR's `/endpoints` answer into model → domain. Entries whose domain fails
/// validation are skipped; a later entry wins for a model listed twice.
pub fn near_endpoints(body: &[u8]) -> Result<BTreeMap<String, String>, ParseError> {
    let fail = |reason: String| ParseError::new("neardirect", reason);
    if body.len() > LOOKUP_BODY_LIMIT {
        return Err(fail(format!("endpoint list exceeds {LOOKUP_BODY_LIMIT} bytes")));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| fail(format!("endpoint list: {e}")))?;
    let entries = match value.get("endpoints") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Ok(BTreeMap::new()),
        Some(_) => return Err(fail("endpoints: expected an array".into())),
    };
    let mut map = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let domain = match entry.get("domain") {
            Some(Value::String(d)) => d.as_str(),
            None | Some(Value::Null) => "",
            Some(_) => return Err(fail(format!("endpoints[{i}].domain: expected a string"))),
        };
        let models = match entry.get("models") {
            Some(Value::Array(m)) => m.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err(fail(format!("endpoints[{i}].models: expected an array"))),
        };
        if !is_valid_near_domain(domain) {
            continue;
        }
        for (j, model) in models.iter().enumerate() {
            let Value::String(model) = model else {
                return Err(fail(format!("endpoints[{i}].models[{j}]: expected a string")));
            };
            map.insert(model.clone(), domain.to_owned());
        }
    }
    Ok(map)
}

/// True for `host` or `host:port` under `near.ai`, ASCII, no path, no punycode. Mixed case and a
/// trailing dot are refused rather than normalised (the domain becomes a TLS name and a cache key).
pub fn is_valid_near_domain(domain: &str) -> bool {
    if domain.is_empty() || !domain.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    if domain.contains('/') || domain.contains('\\') {
        return false;
    }
    let host = match domain.split_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => return false,
        },
        None => domain,
    };
    if host.is_empty() || host.contains("..") || host.ends_with('.') || host != host.to_ascii_lowercase() {
        return false;
    }
    if host.starts_with("xn--") || host.contains(".xn--") {
        return false;
    }
    host == "near.ai" || host.ends_with(".near.ai")
}

/// Parses Chutes' `/v1/models` answer into model id → chute UUID (entries lacking either are
/// skipped; a later duplicate wins).
pub fn chutes_models(body: &[u8]) -> Result<BTreeMap<String, String>, ParseError> {
    let fail = |reason: String| ParseError::new("chutes", reason);
    if body.len() > LOOKUP_BODY_LIMIT {
        return Err(fail(format!("model list exceeds {LOOKUP_BODY_LIMIT} bytes")));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| fail(format!("model list: {e}")))?;
    let Some(Value::Array(data)) = value.get("data") else {
        return Err(fail("model list: data: expected an array".into()));
    };
    let mut map = BTreeMap::new();
    for entry in data {
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
        let (id, chute) = (field("id"), field("chute_id"));
        if !id.is_empty() && !chute.is_empty() {
            map.insert(id.to_owned(), chute.to_owned());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_domains() {
        for ok in ["qwen35-122b.completions.near.ai", "near.ai", "a.near.ai:8443"] {
            assert!(is_valid_near_domain(ok), "{ok}");
        }
        for bad in [
            "", "evil.com", "near.ai.evil.com", "xn--nar-9na.near.ai", "a..near.ai", "A.near.ai", "a.near.ai.",
            "https://a.near.ai", "a.near.ai/x", "a.near.ai:0", "a.near.ai:99999", "a.near.ai:x", "a near.ai", "é.near.ai",
        ] {
            assert!(!is_valid_near_domain(bad), "{bad}");
        }
    }

    #[test]
    fn near_endpoint_list() {
        let body = br#"{"endpoints":[{"domain":"a.near.ai","models":["m1","m2"]},{"domain":"evil.com","models":["m1"]},{"domain":"b.near.ai","models":["m2"]}],"extra":1}"#;
        let map = near_endpoints(body).unwrap();
        assert_eq!(map.get("m1").map(String::as_str), Some("a.near.ai"));
        assert_eq!(map.get("m2").map(String::as_str), Some("b.near.ai"));
        assert!(near_endpoints(br#"{"endpoints":{}}"#).is_err());
        assert!(near_endpoints(br#"{"endpoints":[{"domain":1}]}"#).is_err());
        assert!(near_endpoints(b"not json").is_err());
    }

    #[test]
    fn chutes_model_list() {
        let body = br#"{"data":[{"id":"zai-org/GLM-5-TEE","chute_id":"u1"},{"id":"x"},{"id":"zai-org/GLM-5-TEE","chute_id":"u2"}]}"#;
        let map = chutes_models(body).unwrap();
        assert_eq!(map.len(), 1);
        assert_eq!(map["zai-org/GLM-5-TEE"], "u2");
        assert!(chutes_models(br#"{"data":3}"#).is_err());
    }
}
