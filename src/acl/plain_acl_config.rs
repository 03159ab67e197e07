//! `plain_acl.yml`: the model, its parser, its compiled form, and the edits the ACL admin
//! requests make to it.
//!
//! The file is Java's format:
//!
//! ```yaml
//! globalWhiteRemoteAddresses: ["10.10.103.*", "192.168.0.*"]
//! accounts:
//!   - accessKey: RocketMQ
//!     secretKey: "12345678"
//!     whiteRemoteAddress:
//!     admin: false
//!     defaultTopicPerm: DENY
//!     defaultGroupPerm: SUB
//!     topicPerms: ["topicA=DENY", "topicB=PUB|SUB"]
//!     groupPerms: ["groupA=DENY", "groupB=PUB|SUB"]
//! dataVersion: [{counter: 1, timestamp: 1700000000000}]
//! ```
//!
//! Compiling refuses what Java's loader refuses (keys of 6 characters or fewer, a
//! `resource=PERM` item without exactly one `=`, a whitelist spelling it cannot read), so a
//! broken file never replaces a good configuration. Edits keep every key they do not touch,
//! like Java's read-modify-write of the YAML map.

use std::collections::HashMap;

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use super::permission::{self, retry_topic};
use super::remote_address::RemoteAddressStrategy;

pub const GLOBAL_WHITE: &str = "globalWhiteRemoteAddresses";
pub const ACCOUNTS: &str = "accounts";
pub const ACCESS_KEY: &str = "accessKey";
pub const SECRET_KEY: &str = "secretKey";
pub const WHITE_ADDR: &str = "whiteRemoteAddress";
pub const ADMIN: &str = "admin";
pub const DEFAULT_TOPIC_PERM: &str = "defaultTopicPerm";
pub const DEFAULT_GROUP_PERM: &str = "defaultGroupPerm";
pub const TOPIC_PERMS: &str = "topicPerms";
pub const GROUP_PERMS: &str = "groupPerms";
pub const DATA_VERSION: &str = "dataVersion";

/// Keys and secrets must be longer than this.
pub const MIN_KEY_LEN: usize = 6;

/// One account as written in the file (or sent by UPDATE_AND_CREATE_ACL_CONFIG).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountConfig {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub white_remote_address: Option<String>,
    pub admin: bool,
    pub default_topic_perm: Option<String>,
    pub default_group_perm: Option<String>,
    pub topic_perms: Option<Vec<String>>,
    pub group_perms: Option<Vec<String>>,
}

/// Java's `DataVersion` as kept in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DataVersion {
    pub counter: i64,
    pub timestamp: i64,
}

impl DataVersion {
    /// `{"counter":N,"timestamp":T}` (fastjson order).
    pub fn to_json(self) -> String {
        format!(
            "{{\"counter\":{},\"timestamp\":{}}}",
            self.counter, self.timestamp
        )
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlainAclFile {
    pub global_white_remote_addresses: Vec<String>,
    pub accounts: Vec<AccountConfig>,
    pub data_version: DataVersion,
}

/// A scalar as text (YAML lets `accessKey: 12345678` be a number; Java reads it as text).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_owned())
}

fn get<'a>(h: &'a Hash, k: &str) -> Option<&'a Yaml> {
    h.get(&key(k))
        .filter(|y| !matches!(y, Yaml::Null | Yaml::BadValue))
}

fn string_list(y: Option<&Yaml>, what: &str) -> Result<Option<Vec<String>>, String> {
    match y {
        None => Ok(None),
        Some(Yaml::Array(a)) => a
            .iter()
            .map(|v| scalar(v).ok_or_else(|| format!("{what}: not a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{what}: not a list")),
    }
}

/// Parse the file's text into its YAML map (an empty file is an empty map).
pub fn load_doc(text: &str) -> Result<Hash, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.into_iter().next() {
        None | Some(Yaml::Null) => Ok(Hash::new()),
        Some(Yaml::Hash(h)) => Ok(h),
        Some(_) => Err("the ACL file is not a YAML map".into()),
    }
}

/// Render a document as the file's text.
pub fn dump_doc(doc: &Hash) -> Result<String, String> {
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(&Yaml::Hash(doc.clone()))
        .map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

fn account_from(y: &Yaml) -> Result<AccountConfig, String> {
    let Yaml::Hash(h) = y else {
        return Err("an account is not a map".into());
    };
    let admin = match get(h, ADMIN) {
        Some(Yaml::Boolean(b)) => *b,
        Some(v) => scalar(v).is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
        None => false,
    };
    Ok(AccountConfig {
        access_key: get(h, ACCESS_KEY).and_then(scalar),
        secret_key: get(h, SECRET_KEY).and_then(scalar),
        white_remote_address: get(h, WHITE_ADDR).and_then(scalar),
        admin,
        default_topic_perm: get(h, DEFAULT_TOPIC_PERM).and_then(scalar),
        default_group_perm: get(h, DEFAULT_GROUP_PERM).and_then(scalar),
        topic_perms: string_list(get(h, TOPIC_PERMS), TOPIC_PERMS)?,
        group_perms: string_list(get(h, GROUP_PERMS), GROUP_PERMS)?,
    })
}

/// Read the model out of a document.
pub fn from_doc(h: &Hash) -> Result<PlainAclFile, String> {
    let global = string_list(get(h, GLOBAL_WHITE), GLOBAL_WHITE)?.unwrap_or_default();
    let accounts = match get(h, ACCOUNTS) {
        None => Vec::new(),
        Some(Yaml::Array(a)) => a.iter().map(account_from).collect::<Result<_, _>>()?,
        Some(_) => return Err("accounts: not a list".into()),
    };
    let data_version = match get(h, DATA_VERSION) {
        Some(Yaml::Array(a)) => match a.first() {
            Some(Yaml::Hash(v)) => {
                let num = |k| {
                    get(v, k)
                        .and_then(scalar)
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0)
                };
                DataVersion {
                    counter: num("counter"),
                    timestamp: num("timestamp"),
                }
            }
            _ => DataVersion::default(),
        },
        _ => DataVersion::default(),
    };
    Ok(PlainAclFile {
        global_white_remote_addresses: global,
        accounts,
        data_version,
    })
}

/// Parse the file's text.
pub fn parse(text: &str) -> Result<PlainAclFile, String> {
    from_doc(&load_doc(text)?)
}

/// An account ready for checking requests.
#[derive(Debug, Clone)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    /// HMAC key of `secret_key`, set up once.
    pub key: super::signature::SigningKey,
    pub white: RemoteAddressStrategy,
    pub admin: bool,
    pub default_topic_perm: u8,
    pub default_group_perm: u8,
    /// Resource (topic, or `%RETRY%group`) → permission; `None` when the account lists no
    /// resources at all (an admin without lists may do anything).
    pub perms: Option<HashMap<String, u8>>,
}

/// The compiled configuration the validator checks against.
#[derive(Debug, Clone, Default)]
pub struct CompiledAcl {
    pub global_white: Vec<RemoteAddressStrategy>,
    pub accounts: HashMap<String, Account>,
    pub data_version: DataVersion,
}

/// Java `checkPlainAccessConfig`.
pub fn check_keys(c: &AccountConfig) -> Result<(), String> {
    let ak = c.access_key.as_deref();
    let sk = c.secret_key.as_deref();
    match (ak, sk) {
        (Some(a), Some(s))
            if a.chars().count() > MIN_KEY_LEN && s.chars().count() > MIN_KEY_LEN =>
        {
            Ok(())
        }
        _ => Err(format!(
            "The accessKey={} and secretKey={} cannot be null and length should longer than 6",
            ak.unwrap_or("null"),
            sk.unwrap_or("null")
        )),
    }
}

/// Java `Permission.checkResourcePerms`: each item `Res=Perm` with a known permission.
pub fn check_resource_perms(items: Option<&[String]>) -> Result<(), String> {
    for item in items.unwrap_or_default() {
        let parts: Vec<&str> = item.split('=').filter(|p| !p.is_empty()).collect();
        if parts.len() != 2 {
            return Err(format!(
                "Parse Resource format error for {item}.\nThe expected resource format is 'Res=Perm'. For example: topicA=SUB"
            ));
        }
        if !permission::is_valid(parts[1]) {
            return Err(format!(
                "Parse resource permission error for {item}.\nThe expected permissions are 'SUB' or 'PUB' or 'SUB|PUB' or 'PUB|SUB'."
            ));
        }
    }
    Ok(())
}

fn add_resource_perms(
    map: &mut HashMap<String, u8>,
    items: &[String],
    is_topic: bool,
) -> Result<(), String> {
    for item in items {
        let parts: Vec<&str> = item.split('=').filter(|p| !p.is_empty()).collect();
        let [res, perm] = parts[..] else {
            return Err(format!(
                "Parse resource permission failed for {}:{item}",
                if is_topic { "topic" } else { "group" }
            ));
        };
        let res = res.trim();
        let resource = if is_topic {
            res.to_owned()
        } else {
            retry_topic(res)
        };
        map.insert(resource, permission::parse(Some(perm)));
    }
    Ok(())
}

/// Java `buildPlainAccessResource`.
pub fn compile_account(c: &AccountConfig) -> Result<Account, String> {
    check_keys(c)?;
    let mut perms: Option<HashMap<String, u8>> = None;
    if let Some(g) = c.group_perms.as_deref().filter(|g| !g.is_empty()) {
        add_resource_perms(perms.get_or_insert_with(HashMap::new), g, false)?;
    }
    if let Some(t) = c.topic_perms.as_deref().filter(|t| !t.is_empty()) {
        add_resource_perms(perms.get_or_insert_with(HashMap::new), t, true)?;
    }
    Ok(Account {
        access_key: c.access_key.clone().unwrap_or_default(),
        secret_key: c.secret_key.clone().unwrap_or_default(),
        key: super::signature::key(c.secret_key.as_deref().unwrap_or_default()),
        white: RemoteAddressStrategy::parse(c.white_remote_address.as_deref().unwrap_or(""))?,
        admin: c.admin,
        default_topic_perm: permission::parse(c.default_topic_perm.as_deref()),
        default_group_perm: permission::parse(c.default_group_perm.as_deref()),
        perms,
    })
}

/// Compile a whole file; the first account listed wins when a key repeats.
pub fn compile(f: &PlainAclFile) -> Result<CompiledAcl, String> {
    let global_white = f
        .global_white_remote_addresses
        .iter()
        .map(|s| RemoteAddressStrategy::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut accounts = HashMap::new();
    for c in &f.accounts {
        let a = compile_account(c)?;
        if accounts.contains_key(&a.access_key) {
            log::warn!(
                "ACL: accessKey {} is listed twice; the first wins",
                a.access_key
            );
            continue;
        }
        accounts.insert(a.access_key.clone(), a);
    }
    Ok(CompiledAcl {
        global_white,
        accounts,
        data_version: f.data_version,
    })
}

// ---- edits (the admin requests) ------------------------------------------------------------

fn str_list(v: &[String]) -> Yaml {
    Yaml::Array(v.iter().map(|s| Yaml::String(s.clone())).collect())
}

/// Java `createAclAccessConfigMap`: the account's entries set from `c`, other keys kept.
fn merge_account(existing: Option<Hash>, c: &AccountConfig) -> Hash {
    let mut m = existing.unwrap_or_default();
    let mut put = |k: &str, v: Yaml| {
        m.insert(key(k), v);
    };
    put(
        ACCESS_KEY,
        Yaml::String(c.access_key.clone().unwrap_or_default()),
    );
    if let Some(s) = c.secret_key.as_ref().filter(|s| !s.is_empty()) {
        put(SECRET_KEY, Yaml::String(s.clone()));
    }
    if let Some(w) = &c.white_remote_address {
        put(WHITE_ADDR, Yaml::String(w.clone()));
    }
    put(ADMIN, Yaml::Boolean(c.admin));
    if let Some(p) = c.default_topic_perm.as_ref().filter(|s| !s.is_empty()) {
        put(DEFAULT_TOPIC_PERM, Yaml::String(p.clone()));
    }
    if let Some(p) = c.default_group_perm.as_ref().filter(|s| !s.is_empty()) {
        put(DEFAULT_GROUP_PERM, Yaml::String(p.clone()));
    }
    if let Some(t) = &c.topic_perms {
        put(TOPIC_PERMS, str_list(t));
    }
    if let Some(g) = &c.group_perms {
        put(GROUP_PERMS, str_list(g));
    }
    m
}

fn account_key_of(y: &Yaml) -> Option<String> {
    match y {
        Yaml::Hash(h) => get(h, ACCESS_KEY).and_then(scalar),
        _ => None,
    }
}

/// Create or update the account `c.access_key` (an updated account moves to the end of the
/// list, as in Java).
pub fn upsert_account(h: &mut Hash, c: &AccountConfig) {
    let mut accounts = match h.remove(&key(ACCOUNTS)) {
        Some(Yaml::Array(a)) => a,
        _ => Vec::new(),
    };
    let existing = accounts
        .iter()
        .position(|a| account_key_of(a) == c.access_key)
        .map(|i| accounts.remove(i));
    let existing = match existing {
        Some(Yaml::Hash(m)) => Some(m),
        _ => None,
    };
    accounts.push(Yaml::Hash(merge_account(existing, c)));
    h.insert(key(ACCOUNTS), Yaml::Array(accounts));
}

/// Remove the account `access_key`; false when it is not in the file.
pub fn delete_account(h: &mut Hash, access_key: &str) -> bool {
    let Some(Yaml::Array(accounts)) = h.get_mut(&key(ACCOUNTS)) else {
        return false;
    };
    let before = accounts.len();
    accounts.retain(|a| account_key_of(a).as_deref() != Some(access_key));
    accounts.len() != before
}

/// Replace the global whitelist.
pub fn set_global_white(doc: &mut Hash, addrs: &[String]) {
    doc.insert(key(GLOBAL_WHITE), str_list(addrs));
}

/// Java `updateAclConfigFileVersion`: counter + 1, timestamp now.
pub fn bump_version(doc: &mut Hash, now_ms: i64) -> DataVersion {
    let old = from_doc(doc).map(|f| f.data_version).unwrap_or_default();
    let v = DataVersion {
        counter: old.counter + 1,
        timestamp: now_ms,
    };
    let mut entry = Hash::new();
    entry.insert(key("counter"), Yaml::Integer(v.counter));
    entry.insert(key("timestamp"), Yaml::Integer(v.timestamp));
    doc.insert(key(DATA_VERSION), Yaml::Array(vec![Yaml::Hash(entry)]));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: "12345678"
    whiteRemoteAddress: 192.168.1.*
    admin: true
"#;

    #[test]
    fn java_sample_file_compiles() {
        let f = parse(SAMPLE).unwrap();
        assert_eq!(f.accounts.len(), 2);
        assert_eq!(f.accounts[0].secret_key.as_deref(), Some("12345678"));
        let c = compile(&f).unwrap();
        let a = &c.accounts["RocketMQ"];
        assert_eq!(a.default_topic_perm, permission::DENY);
        assert_eq!(a.default_group_perm, permission::SUB);
        let perms = a.perms.as_ref().unwrap();
        assert_eq!(perms["topicB"], permission::PUB | permission::SUB);
        assert_eq!(perms["%RETRY%groupA"], permission::DENY);
        assert!(c.accounts["rocketmq2"].admin);
        assert!(c.accounts["rocketmq2"].perms.is_none());
        assert!(c.global_white[0].matches("10.10.103.5"));
    }

    #[test]
    fn short_keys_and_bad_items_are_refused() {
        let short = "accounts:\n  - accessKey: abc\n    secretKey: 12345678\n";
        assert!(compile(&parse(short).unwrap()).is_err());
        let bad = "accounts:\n  - accessKey: abcdefg\n    secretKey: 12345678\n    topicPerms: [\"a=b=c\"]\n";
        assert!(compile(&parse(bad).unwrap()).is_err());
        assert!(parse("accounts: [").is_err());
    }

    #[test]
    fn edits_round_trip_through_text() {
        let mut doc = load_doc(SAMPLE).unwrap();
        let c = AccountConfig {
            access_key: Some("newAccount1".into()),
            secret_key: Some("secret123".into()),
            default_topic_perm: Some("PUB".into()),
            topic_perms: Some(vec!["t1=SUB".into()]),
            ..Default::default()
        };
        upsert_account(&mut doc, &c);
        set_global_white(&mut doc, &["127.0.0.1".into()]);
        let v = bump_version(&mut doc, 42);
        assert_eq!(v.counter, 1);
        let text = dump_doc(&doc).unwrap();
        let f = parse(&text).unwrap();
        assert_eq!(f.accounts.len(), 3);
        assert_eq!(f.accounts[2].access_key.as_deref(), Some("newAccount1"));
        assert_eq!(
            f.global_white_remote_addresses,
            vec!["127.0.0.1".to_owned()]
        );
        assert_eq!(
            f.data_version,
            DataVersion {
                counter: 1,
                timestamp: 42
            }
        );
        // Untouched keys of the updated account are kept.
        let mut doc = load_doc(&text).unwrap();
        upsert_account(
            &mut doc,
            &AccountConfig {
                access_key: Some("RocketMQ".into()),
                admin: true,
                ..Default::default()
            },
        );
        let f = parse(&dump_doc(&doc).unwrap()).unwrap();
        let a = f
            .accounts
            .iter()
            .find(|a| a.access_key.as_deref() == Some("RocketMQ"))
            .unwrap();
        assert!(a.admin);
        assert_eq!(a.secret_key.as_deref(), Some("12345678"));
        assert!(delete_account(&mut doc, "RocketMQ"));
        assert!(!delete_account(&mut doc, "RocketMQ"));
    }
}
