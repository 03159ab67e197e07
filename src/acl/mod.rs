//! Access control: RocketMQ 4.x "plain ACL" (Java `PlainAccessValidator` +
//! `PlainPermissionManager`).
//!
//! When `aclEnable=true`, every request to the broker is checked before it reaches a
//! processor, in Java's order:
//!
//! 1. the resources the request needs are worked out from its code, header and (for
//!    heartbeats) body ([`permission::needed`]); a header that does not decode refuses it;
//! 2. a remote address on the global whitelist passes;
//! 3. no `AccessKey` ext field, or an unknown one, refuses;
//! 4. a remote address on the account's own whitelist passes;
//! 5. the `Signature` must be the HMAC-SHA1 of the signed content under the account's secret
//!    ([`signature`]);
//! 6. publishing to the trace topic passes;
//! 7. admin-only codes need an admin account; each resource needs its permission, from the
//!    account's lists or its defaults (an admin without lists may do anything).
//!
//! A refusal is answered with [`REFUSAL_CODE`] and Java's remark (the exception's text,
//! `org.apache.rocketmq.acl.common.AclException: <why>`).
//!
//! The configuration lives in one file (`${rocketmqHome}/conf/plain_acl.yml` by default) and
//! is held as an immutable compiled snapshot behind an [`ArcSwap`]: the request path only
//! loads a pointer. The [`watcher`] reloads the file when its content changes; a file that
//! does not load keeps the last good snapshot (and says why in the log). The admin requests
//! ([`admin`]) edit the file and swap in the new snapshot at once; edits are serialized by a
//! mutex and never run on executor threads.

pub mod admin;
pub mod permission;
pub mod plain_acl_config;
pub mod remote_address;
pub mod signature;
pub mod watcher;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use apogee_codec::codes::response;
use apogee_codec::RemotingCommand;
use arc_swap::ArcSwap;
use log::{info, warn};

use plain_acl_config::{CompiledAcl, DataVersion};

/// The response code of a refused request. Java 4.9.8 lets the `AclException` thrown by its
/// RPC hook reach the remoting layer, which answers SYSTEM_ERROR with the exception's text.
pub const REFUSAL_CODE: i32 = response::SYSTEM_ERROR;

/// Java's exception class name, the start of every refusal remark.
pub const ACL_EXCEPTION: &str = "org.apache.rocketmq.acl.common.AclException";

/// A refused request: the reason, as Java words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDenied(pub String);

impl AclDenied {
    /// The remark Java sends (`exception.toString()`).
    pub fn remark(&self) -> String {
        format!("{ACL_EXCEPTION}: {}", self.0)
    }

    /// The response to `req`.
    pub fn response_to(&self, req: &RemotingCommand) -> RemotingCommand {
        RemotingCommand::error_to(req, REFUSAL_CODE, self.remark())
    }
}

/// The plain ACL of one broker.
pub struct PlainAcl {
    path: PathBuf,
    state: ArcSwap<CompiledAcl>,
    /// The file text the current snapshot (or the last refused attempt) was read from; the
    /// watcher reloads when the file differs. Also serializes edits.
    seen: Mutex<Option<String>>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for PlainAcl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlainAcl({})", self.path.display())
    }
}

/// The ACL file of a broker: `file` as is when absolute, else under `home`.
pub fn acl_file_path(home: &str, file: &str) -> Result<PathBuf, String> {
    let f = Path::new(file);
    if f.is_absolute() {
        return Ok(f.to_path_buf());
    }
    let home = if home.trim().is_empty() {
        std::env::var("ROCKETMQ_HOME").unwrap_or_default()
    } else {
        home.to_owned()
    };
    if home.trim().is_empty() {
        return Err(
            "aclEnable=true needs rocketmqHome (or ROCKETMQ_HOME) to find conf/plain_acl.yml"
                .into(),
        );
    }
    Ok(Path::new(home.trim()).join(f))
}

impl PlainAcl {
    /// Load `path` (created empty when missing, as Java does). A file that does not load is an
    /// error here: a broker must not start with an ACL it cannot read.
    pub fn open(path: PathBuf) -> Result<Arc<PlainAcl>, String> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&path, "").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let compiled = load_text(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        info!(
            "ACL: {} loaded ({} accounts, {} global whitelist entries)",
            path.display(),
            compiled.accounts.len(),
            compiled.global_white.len()
        );
        Ok(Arc::new(PlainAcl {
            path,
            state: ArcSwap::from_pointee(compiled),
            seen: Mutex::new(Some(text)),
            stopped: AtomicBool::new(false),
        }))
    }

    /// An ACL over an in-memory configuration (benches, unit tests); `path` is only named.
    pub fn from_text(path: PathBuf, text: &str) -> Result<PlainAcl, String> {
        Ok(PlainAcl {
            path,
            state: ArcSwap::from_pointee(load_text(text)?),
            seen: Mutex::new(Some(text.to_owned())),
            stopped: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<CompiledAcl> {
        self.state.load_full()
    }

    pub fn data_version(&self) -> DataVersion {
        self.state.load().data_version
    }

    fn lock_seen(&self) -> MutexGuard<'_, Option<String>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-read the file; swap in its configuration when it changed and loads. Blocking (file
    /// IO): call from a dedicated thread or `rt::unblock`. Ok(true) when a new snapshot is in.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        // Read under the lock: an edit in between must not be undone by older text.
        let mut seen = self.lock_seen();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if seen.as_deref() == Some(text.as_str()) {
            return Ok(false);
        }
        let result = load_text(&text);
        *seen = Some(text);
        match result {
            Ok(c) => {
                info!(
                    "ACL: {} reloaded ({} accounts)",
                    self.path.display(),
                    c.accounts.len()
                );
                self.state.store(Arc::new(c));
                Ok(true)
            }
            Err(e) => {
                warn!(
                    "ACL: {} does not load, keeping the last good configuration: {e}",
                    self.path.display()
                );
                Err(e)
            }
        }
    }

    /// Stop the watcher (broker shutdown).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Start reloading on change every `interval`.
    pub fn watch(self: &Arc<Self>, interval: Duration) {
        watcher::start(self, interval);
    }

    /// Check one request from `remote` (Java's `parse` + `validate`).
    pub fn validate(&self, remote: SocketAddr, req: &RemotingCommand) -> Result<(), AclDenied> {
        validate(&self.state.load(), remote, req)
    }
}

fn load_text(text: &str) -> Result<CompiledAcl, String> {
    plain_acl_config::compile(&plain_acl_config::parse(text)?)
}

/// The checks of [`PlainAcl::validate`] against one snapshot.
pub fn validate(
    acl: &CompiledAcl,
    remote: SocketAddr,
    req: &RemotingCommand,
) -> Result<(), AclDenied> {
    let needed = if req.ext_fields.is_some() {
        permission::needed(req).map_err(AclDenied)?
    } else {
        permission::Needed::default()
    };
    let ip = remote.ip().to_string();
    if acl.global_white.iter().any(|w| w.matches(&ip)) {
        return Ok(());
    }
    let Some(access_key) = req.ext(signature::ACCESS_KEY) else {
        return Err(AclDenied("No accessKey is configured".into()));
    };
    let Some(account) = acl.accounts.get(access_key) else {
        return Err(AclDenied(format!("No acl config for {access_key}")));
    };
    if account.white.matches(&ip) {
        return Ok(());
    }
    let sig = req.ext(signature::SIGNATURE).unwrap_or("");
    if !signature::verify_with_key(req.ext_fields.as_ref(), &req.body, &account.key, sig) {
        return Err(AclDenied(format!(
            "Check signature failed for accessKey={access_key}"
        )));
    }
    if needed.get(permission::TRACE_TOPIC) == Some(permission::PUB) {
        return Ok(());
    }
    if permission::needs_admin(req.code) && !account.admin {
        return Err(AclDenied(format!(
            "Need admin permission for request code={}, but accessKey={} is not",
            req.code, account.access_key
        )));
    }
    if needed.0.is_empty() {
        return Ok(());
    }
    let Some(owned) = account.perms.as_ref() else {
        if account.admin {
            return Ok(());
        }
        return check_defaults(account, &needed);
    };
    for (resource, perm) in &needed.0 {
        let granted = match owned.get(resource) {
            Some(p) => *p,
            None if permission::is_retry_topic(resource) => account.default_group_perm,
            None => account.default_topic_perm,
        };
        if !permission::check(*perm, granted) {
            return Err(denied_resource(resource));
        }
    }
    Ok(())
}

fn check_defaults(
    account: &plain_acl_config::Account,
    needed: &permission::Needed,
) -> Result<(), AclDenied> {
    for (resource, perm) in &needed.0 {
        let granted = if permission::is_retry_topic(resource) {
            account.default_group_perm
        } else {
            account.default_topic_perm
        };
        if !permission::check(*perm, granted) {
            return Err(denied_resource(resource));
        }
    }
    Ok(())
}

fn denied_resource(resource: &str) -> AclDenied {
    AclDenied(format!(
        "No default permission for {}",
        permission::print_resource(resource)
    ))
}

#[cfg(test)]
mod tests;
