//! Reload-on-change for the ACL file (Java's `AclFileWatchService`, which polls too).
//!
//! One dedicated thread per ACL polls the file every interval (file IO never runs on executor
//! threads) and compares its content with the text last loaded; a change is loaded and
//! swapped in, or refused with a log line that keeps the last good configuration. The thread
//! holds only a weak reference and ends when the ACL is stopped or dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use log::{debug, warn};

use super::PlainAcl;

/// Start polling `acl`'s file every `interval` (at least 10 ms).
pub fn start(acl: &Arc<PlainAcl>, interval: Duration) {
    let weak: Weak<PlainAcl> = Arc::downgrade(acl);
    let interval = interval.max(Duration::from_millis(10));
    let spawned = std::thread::Builder::new()
        .name("acl-watch".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(acl) = weak.upgrade() else { break };
            if acl.is_stopped() {
                break;
            }
            match acl.reload_if_changed() {
                Ok(_) => {}
                // Already logged by the reload (a file that does not load); an unreadable
                // file is logged here, at debug level while it stays so.
                Err(e) => debug!("ACL watch: {e}"),
            }
        });
    if let Err(e) = spawned {
        warn!("ACL: cannot start the file watcher: {e}");
    }
}
