//! The strict schema walk (§13.4), in the reference loader's order: decode (syntax, then value
//! types), unknown keys, `max_conns`, each provider section (by name: `allow_fail`, policy,
//! gateway policy), the global allow-fail list, the global policy, the global gateway policy.

use std::borrow::Cow;
use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::gofmt;
use super::{
    AllowlistProblem, Config, ConfigError, LIST_KEYS, MAX_CONNS_LIMIT, MEASUREMENT_LEN, PolicyOverrides,
    ProviderSettings,
};
use crate::report::Factor;

type Key<'i> = Spanned<Cow<'i, str>>;
type Value<'i> = Spanned<DeValue<'i>>;

/// A `[policy]` section before validation.
#[derive(Default)]
struct RawPolicy {
    allow_fail: Option<Vec<String>>,
    lists: [Option<Vec<String>>; 12],
}

/// A `[providers.<name>]` section before validation.
#[derive(Default)]
struct RawProvider {
    api_key: Option<String>,
    api_key_env: Option<String>,
    base_url: Option<String>,
    e2ee: Option<bool>,
    allow_fail: Option<Vec<String>>,
    policy: RawPolicy,
}

/// The whole file before validation.
#[derive(Default)]
struct RawFile {
    allow_fail: Option<Vec<String>>,
    max_conns: Option<i64>,
    policy: RawPolicy,
    providers: BTreeMap<String, RawProvider>,
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    // The typed parse validates everything the spanned one leaves raw (integer and float
    // ranges); the spanned one gives document positions for messages and key order.
    if let Err(e) = toml::from_str::<toml::Table>(text) {
        return Err(syntax_error(text, &e));
    }
    let doc = DeTable::parse(text).map_err(|e| syntax_error(text, &e))?;
    let mut walker = Walker { src: text, unknown: Vec::new() };
    let raw = walker.root(doc.get_ref())?;
    if !walker.unknown.is_empty() {
        walker.unknown.sort_by_key(|(pos, _)| *pos);
        return Err(ConfigError::UnknownKeys(walker.unknown.into_iter().map(|(_, k)| k).collect()));
    }
    validate(raw)
}

fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    ConfigError::Decode(match e.span() {
        Some(span) => {
            format!("toml: line {}, column {}: {message}", line_of(text, span.start), column_of(text, span.start))
        }
        None => format!("toml: {message}"),
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, pos: usize) -> usize {
    let end = pos.min(text.len());
    1 + text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count()
}

/// 1-based column (in characters) of a byte offset.
fn column_of(text: &str, pos: usize) -> usize {
    let mut end = pos.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    1 + text[line_start..end].chars().count()
}

/// Table entries in document order.
fn entries<'a, 'i>(t: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Value<'i>)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// Type checks the known keys, collects the unknown ones.
struct Walker<'s> {
    src: &'s str,
    /// (document position, dotted path).
    unknown: Vec<(usize, String)>,
}

impl Walker<'_> {
    fn root(&mut self, t: &DeTable<'_>) -> Result<RawFile, ConfigError> {
        let mut raw = RawFile::default();
        for (k, v) in entries(t) {
            let path = [k.get_ref().as_ref()];
            match k.get_ref().as_ref() {
                "allow_fail" => raw.allow_fail = Some(self.strings(&path, k, v)?),
                "max_conns" => raw.max_conns = Some(self.integer(&path, k, v)?),
                "policy" => raw.policy = self.policy(&path, k, v)?,
                "providers" => raw.providers = self.providers(&path, k, v)?,
                _ => self.unknown(&[], k, v),
            }
        }
        Ok(raw)
    }

    fn providers(
        &mut self,
        path: &[&str],
        key: &Key<'_>,
        v: &Value<'_>,
    ) -> Result<BTreeMap<String, RawProvider>, ConfigError> {
        let DeValue::Table(t) = v.get_ref() else {
            return Err(self.badtype(path, key, v, "map"));
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries(t) {
            let name = k.get_ref().as_ref();
            let child = [path, &[name]].concat();
            out.insert(name.to_owned(), self.provider(&child, k, v)?);
        }
        Ok(out)
    }

    fn provider(&mut self, path: &[&str], key: &Key<'_>, v: &Value<'_>) -> Result<RawProvider, ConfigError> {
        let t = self.table(path, key, v, "config.ProviderConfig")?;
        let mut raw = RawProvider::default();
        for (k, v) in entries(t) {
            let name = k.get_ref().as_ref();
            let child = [path, &[name]].concat();
            match name {
                "api_key" => raw.api_key = Some(self.string(&child, k, v)?),
                "api_key_env" => raw.api_key_env = Some(self.string(&child, k, v)?),
                "base_url" => raw.base_url = Some(self.string(&child, k, v)?),
                "e2ee" => raw.e2ee = Some(self.boolean(&child, k, v)?),
                "allow_fail" => raw.allow_fail = Some(self.strings(&child, k, v)?),
                "policy" => raw.policy = self.policy(&child, k, v)?,
                _ => self.unknown(path, k, v),
            }
        }
        Ok(raw)
    }

    fn policy(&mut self, path: &[&str], key: &Key<'_>, v: &Value<'_>) -> Result<RawPolicy, ConfigError> {
        let t = self.table(path, key, v, "config.PolicyConfig")?;
        let mut raw = RawPolicy::default();
        for (k, v) in entries(t) {
            let name = k.get_ref().as_ref();
            let child = [path, &[name]].concat();
            if name == "allow_fail" {
                raw.allow_fail = Some(self.strings(&child, k, v)?);
            } else if let Some(i) = LIST_KEYS.iter().position(|l| *l == name) {
                raw.lists[i] = Some(self.strings(&child, k, v)?);
            } else {
                self.unknown(path, k, v);
            }
        }
        Ok(raw)
    }

    /// Records `key` (under `parent`) and everything below it as unknown, the way the reference
    /// lists undecoded keys: every key written in the file, but not tables that exist only
    /// implicitly (the `a` of `[a.b]` or of `a.b = 1`); an array of tables once per `[[…]]`.
    fn unknown(&mut self, parent: &[&str], key: &Key<'_>, v: &Value<'_>) {
        let name = key.get_ref().as_ref();
        let path = [parent, &[name]].concat();
        let dotted = gofmt::key_path(&path);
        match v.get_ref() {
            DeValue::Table(t) => {
                // An implicit table has no text of its own: its span is its key's.
                if v.span() != key.span() {
                    self.unknown.push((key.span().start, dotted));
                }
                for (k, v) in entries(t) {
                    self.unknown(&path, k, v);
                }
            }
            DeValue::Array(items) => {
                let headers = items.iter().filter(|i| self.is_array_table_header(i)).count();
                if headers == 0 {
                    self.unknown.push((key.span().start, dotted.clone()));
                }
                for item in items.iter() {
                    if self.is_array_table_header(item) {
                        self.unknown.push((item.span().start, dotted.clone()));
                    }
                    if let DeValue::Table(t) = item.get_ref() {
                        for (k, v) in entries(t) {
                            self.unknown(&path, k, v);
                        }
                    }
                }
            }
            _ => self.unknown.push((key.span().start, dotted)),
        }
    }

    /// True for a table written as a `[[…]]` header (its span is the header).
    fn is_array_table_header(&self, item: &Value<'_>) -> bool {
        matches!(item.get_ref(), DeValue::Table(_)) && self.src.get(item.span()).is_some_and(|s| s.starts_with("[["))
    }

    fn table<'a, 'i>(
        &self,
        path: &[&str],
        key: &Key<'_>,
        v: &'a Value<'i>,
        go_type: &str,
    ) -> Result<&'a DeTable<'i>, ConfigError> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(self.error(
                path,
                key,
                format!("type mismatch for {go_type}: expected table but found {}", self.go_type(v)),
            )),
        }
    }

    fn string(&self, path: &[&str], key: &Key<'_>, v: &Value<'_>) -> Result<String, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err(self.badtype(path, key, v, "string")),
        }
    }

    fn boolean(&self, path: &[&str], key: &Key<'_>, v: &Value<'_>) -> Result<bool, ConfigError> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.badtype(path, key, v, "boolean")),
        }
    }

    fn integer(&self, path: &[&str], key: &Key<'_>, v: &Value<'_>) -> Result<i64, ConfigError> {
        match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
                self.error(path, key, format!("integer {} is out of the range of 64-bit signed integers", i.as_str()))
            }),
            _ => Err(self.badtype(path, key, v, "integer")),
        }
    }

    fn strings(&self, path: &[&str], key: &Key<'_>, v: &Value<'_>) -> Result<Vec<String>, ConfigError> {
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.badtype(path, key, v, "slice"));
        };
        // Elements report against the array's key, as the reference does.
        items.iter().map(|item| self.string(path, key, item)).collect()
    }

    /// The reference decoder's type mismatch.
    fn badtype(&self, path: &[&str], key: &Key<'_>, v: &Value<'_>, want: &str) -> ConfigError {
        self.error(
            path,
            key,
            format!("incompatible types: TOML value has type {}; destination has type {want}", self.go_type(v)),
        )
    }

    /// `toml: line N (last key "a.b"): message`, N the key's line.
    fn error(&self, path: &[&str], key: &Key<'_>, message: String) -> ConfigError {
        ConfigError::Decode(format!(
            "toml: line {} (last key {}): {message}",
            line_of(self.src, key.span().start),
            gofmt::quote(&gofmt::key_path(path))
        ))
    }

    /// The Go type the reference's parser gives a value (`fmtType`).
    fn go_type(&self, v: &Value<'_>) -> &'static str {
        match v.get_ref() {
            DeValue::String(_) => "string",
            DeValue::Integer(_) => "int64",
            DeValue::Float(_) => "float64",
            DeValue::Boolean(_) => "bool",
            DeValue::Datetime(_) => "time.Time",
            DeValue::Table(_) => "map[string]any",
            DeValue::Array(items) if items.first().is_some_and(|i| self.is_array_table_header(i)) => "[]map[string]any",
            DeValue::Array(_) => "[]any",
        }
    }
}

fn validate(raw: RawFile) -> Result<Config, ConfigError> {
    let mut cfg = Config::default();
    if let Some(n) = raw.max_conns {
        if n <= 0 {
            return Err(ConfigError::MaxConnsNotPositive(n));
        }
        cfg.max_conns =
            Some(u32::try_from(n).ok().filter(|&n| n <= MAX_CONNS_LIMIT).ok_or(ConfigError::MaxConnsTooLarge(n))?);
    }
    for (name, p) in raw.providers {
        let allow_fail = match &p.allow_fail {
            Some(list) => Some(factors(list, &format!("providers.{name}.allow_fail"))?),
            None => None,
        };
        let mut policy = PolicyOverrides::default();
        fill_lists(&mut policy, &p.policy, Some(format!("providers.{name}.policy")), false)?;
        fill_lists(&mut policy, &p.policy, Some(format!("providers.{name}.policy (gateway)")), true)?;
        let settings = ProviderSettings {
            api_key: p.api_key,
            api_key_env: p.api_key_env,
            base_url: p.base_url,
            e2ee: p.e2ee,
            allow_fail,
            policy,
        };
        cfg.providers.insert(name, settings);
    }
    // The root list wins; `[policy].allow_fail` is read (and validated) only without it.
    // Either way an unknown name is reported against `allow_fail`.
    match (&raw.allow_fail, &raw.policy.allow_fail) {
        (Some(list), _) => cfg.allow_fail = Some(factors(list, "allow_fail")?),
        (None, Some(list)) => cfg.policy_allow_fail = Some(factors(list, "allow_fail")?),
        (None, None) => {}
    }
    fill_lists(&mut cfg.policy, &raw.policy, None, false)?;
    fill_lists(&mut cfg.policy, &raw.policy, None, true)?;
    Ok(cfg)
}

/// Resolves allow-fail names (either spelling).
fn factors(names: &[String], list: &str) -> Result<Vec<Factor>, ConfigError> {
    names
        .iter()
        .map(|n| {
            Factor::from_name(n).ok_or_else(|| ConfigError::UnknownFactor { list: list.to_owned(), name: n.clone() })
        })
        .collect()
}

/// Validates the six register lists (`gateway` false) or the six gateway lists into `out`.
fn fill_lists(
    out: &mut PolicyOverrides,
    raw: &RawPolicy,
    section: Option<String>,
    gateway: bool,
) -> Result<(), ConfigError> {
    let range = if gateway { 6..12 } else { 0..6 };
    for (i, slot) in out.lists_mut().into_iter().enumerate().filter(|(i, _)| range.contains(i)) {
        if let Some(entries) = &raw.lists[i] {
            let field = format!("policy.{}", LIST_KEYS[i]);
            let fail = |problem| ConfigError::Allowlist { section: section.clone(), field: field.clone(), problem };
            *slot = Some(allowlist(entries).map_err(fail)?);
        }
    }
    Ok(())
}

/// One allow-list: non-empty; each entry trimmed, lowercased, one leading `0x` removed, hex,
/// 48 bytes. Duplicates are dropped.
fn allowlist(entries: &[String]) -> Result<Vec<[u8; MEASUREMENT_LEN]>, AllowlistProblem> {
    if entries.is_empty() {
        return Err(AllowlistProblem::Empty);
    }
    let mut out: Vec<[u8; MEASUREMENT_LEN]> = Vec::with_capacity(entries.len());
    for entry in entries {
        let lower: String = entry.trim().chars().flat_map(char::to_lowercase).collect();
        let digits = lower.strip_prefix("0x").unwrap_or(&lower);
        let bytes = gofmt::hex_decode(digits)
            .map_err(|reason| AllowlistProblem::InvalidHex { entry: entry.clone(), reason })?;
        let value: [u8; MEASUREMENT_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AllowlistProblem::WrongLength { entry: entry.clone(), len: bytes.len() })?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}
