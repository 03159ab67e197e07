//! The ACL admin requests (4.9.8 `AdminBrokerProcessor`): UPDATE_AND_CREATE_ACL_CONFIG (50),
//! DELETE_ACL_CONFIG (51), GET_BROKER_CLUSTER_ACL_INFO (52), UPDATE_GLOBAL_WHITE_ADDRS_CONFIG
//! (53). GET_BROKER_CLUSTER_ACL_CONFIG (54) has no handler in 4.9.8 and is not supported.
//!
//! Each edit re-reads the file, changes only what the request names, refuses a result that
//! would not load, bumps `dataVersion`, writes the file (temp file + rename) and swaps the new
//! configuration in before answering. These functions block (file IO): run them on the
//! blocking pool.

use std::io::Write;

use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::acl::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use apogee_codec::RemotingCommand;
use log::{info, warn};

use super::plain_acl_config::{self as cfg, AccountConfig};
use super::PlainAcl;

/// The request codes handled here.
pub fn handles(code: i32) -> bool {
    matches!(
        code,
        rc::UPDATE_AND_CREATE_ACL_CONFIG
            | rc::DELETE_ACL_CONFIG
            | rc::GET_BROKER_CLUSTER_ACL_INFO
            | rc::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG
    )
}

/// Who answers GET_BROKER_CLUSTER_ACL_INFO.
pub struct BrokerIdentity {
    pub broker_name: String,
    pub broker_addr: String,
    pub cluster_name: String,
}

/// Answer one ACL admin request; `acl` is `None` when the broker runs without ACL.
pub fn process(
    acl: Option<&PlainAcl>,
    who: &BrokerIdentity,
    req: &RemotingCommand,
) -> RemotingCommand {
    let failed = match req.code {
        rc::UPDATE_AND_CREATE_ACL_CONFIG => response::UPDATE_AND_CREATE_ACL_CONFIG_FAILED,
        rc::DELETE_ACL_CONFIG => response::DELETE_ACL_CONFIG_FAILED,
        rc::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => response::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED,
        _ => response::SYSTEM_ERROR,
    };
    let Some(acl) = acl else {
        return RemotingCommand::error_to(
            req,
            failed,
            "ACL is not enabled on this broker (aclEnable=false)",
        );
    };
    let result = match req.code {
        rc::UPDATE_AND_CREATE_ACL_CONFIG => update_account(acl, req),
        rc::DELETE_ACL_CONFIG => delete_account(acl, req),
        rc::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => update_global_white(acl, req),
        rc::GET_BROKER_CLUSTER_ACL_INFO => return version_info(acl, who, req),
        _ => Err(format!(" request type {} not supported", req.code)),
    };
    match result {
        Ok(()) => RemotingCommand::success_to(req),
        Err(e) => {
            warn!("ACL admin request {} failed: {e}", req.code);
            RemotingCommand::error_to(req, failed, e)
        }
    }
}

/// Java `UtilAll.split(s, ",")`: `None` for an absent field; Java's `String.split` drops
/// trailing empty items.
fn split_list(s: Option<&str>) -> Option<Vec<String>> {
    let s = s?;
    let mut v: Vec<String> = s.split(',').map(str::to_owned).collect();
    while v.last().is_some_and(|x| x.is_empty()) {
        v.pop();
    }
    Some(v)
}

fn update_account(acl: &PlainAcl, req: &RemotingCommand) -> Result<(), String> {
    let h: CreateAccessConfigRequestHeader = req.read_header().map_err(|e| e.to_string())?;
    let c = AccountConfig {
        access_key: Some(h.access_key.clone()),
        secret_key: h.secret_key.clone(),
        white_remote_address: h.white_remote_address.clone(),
        admin: h.admin.unwrap_or(false),
        default_topic_perm: h.default_topic_perm.clone(),
        default_group_perm: h.default_group_perm.clone(),
        topic_perms: split_list(h.topic_perms.as_deref()),
        group_perms: split_list(h.group_perms.as_deref()),
    };
    cfg::check_keys(&c)?;
    cfg::check_resource_perms(c.topic_perms.as_deref())?;
    cfg::check_resource_perms(c.group_perms.as_deref())?;
    edit(acl, |doc| {
        cfg::upsert_account(doc, &c);
        Ok(())
    })?;
    info!("ACL: account {} created or updated", h.access_key);
    Ok(())
}

fn delete_account(acl: &PlainAcl, req: &RemotingCommand) -> Result<(), String> {
    let h: DeleteAccessConfigRequestHeader = req.read_header().map_err(|e| e.to_string())?;
    edit(acl, |doc| {
        if cfg::delete_account(doc, &h.access_key) {
            Ok(())
        } else {
            Err(format!(
                "The accesskey[{}] corresponding to accessConfig has been deleted failed.",
                h.access_key
            ))
        }
    })?;
    info!("ACL: account {} deleted", h.access_key);
    Ok(())
}

fn update_global_white(acl: &PlainAcl, req: &RemotingCommand) -> Result<(), String> {
    let h: UpdateGlobalWhiteAddrsConfigRequestHeader =
        req.read_header().map_err(|e| e.to_string())?;
    let file = h.acl_file_full_path.trim();
    if !file.is_empty() && std::path::Path::new(file) != acl.path() {
        return Err(format!(
            "The globalWhiteAddresses[{}] has been updated failed: {file} is not this broker's ACL file",
            h.global_white_addrs
        ));
    }
    let addrs = split_list(Some(&h.global_white_addrs)).unwrap_or_default();
    edit(acl, |doc| {
        cfg::set_global_white(doc, &addrs);
        Ok(())
    })?;
    info!("ACL: global whitelist set to {addrs:?}");
    Ok(())
}

fn version_info(acl: &PlainAcl, who: &BrokerIdentity, req: &RemotingCommand) -> RemotingCommand {
    let v = acl.data_version();
    let mut all = serde_json::Map::new();
    all.insert(
        acl.path().to_string_lossy().into_owned(),
        serde_json::json!({"counter": v.counter, "timestamp": v.timestamp}),
    );
    let h = GetBrokerAclConfigResponseHeader {
        version: v.to_json(),
        all_acl_file_version: Some(serde_json::Value::Object(all).to_string()),
        broker_name: who.broker_name.clone(),
        broker_addr: who.broker_addr.clone(),
        cluster_name: who.cluster_name.clone(),
    };
    RemotingCommand::success_to(req).with_header(&h)
}

/// Read the file, apply `f`, check the result loads, bump the version, write it back and swap
/// the new configuration in. Serialized with reloads by the ACL's `seen` lock.
fn edit(
    acl: &PlainAcl,
    f: impl FnOnce(&mut yaml_rust2::yaml::Hash) -> Result<(), String>,
) -> Result<(), String> {
    let path = acl.path();
    let mut seen = acl.lock_seen();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc = cfg::load_doc(&text)?;
    f(&mut doc)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    cfg::bump_version(&mut doc, now);
    let compiled = cfg::compile(&cfg::from_doc(&doc)?)?;
    let out = cfg::dump_doc(&doc)?;
    write_atomically(path, &out).map_err(|e| format!("{}: {e}", path.display()))?;
    *seen = Some(out);
    acl.state.store(std::sync::Arc::new(compiled));
    Ok(())
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yml.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
