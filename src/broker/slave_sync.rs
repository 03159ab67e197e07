//! A slave's config sync from its master (Java `SlaveSynchronize`, 4.9.8): 3 s after start
//! and then every 10 s, through the master's admin requests:
//!
//! * GET_ALL_TOPIC_CONFIG: when the master's data version differs, the local topic table
//!   and data version are replaced by the master's and persisted;
//! * GET_ALL_CONSUMER_OFFSET: the master's `topic@group` entries overwrite the local ones,
//!   then persisted;
//! * GET_ALL_DELAY_OFFSET: the answer is written to `config/delayOffset.json` as is (it is
//!   read when the broker starts as a master);
//! * GET_ALL_SUBSCRIPTIONGROUP_CONFIG: like topics.
//!
//! The master's address is what the name server answered at registration. A failed request is
//! logged and the round goes on with the next one.

use std::sync::Arc;
use std::time::Duration;

use apogee_codec::body::{
    ConsumerOffsetSerializeWrapper, SubscriptionGroupWrapper, TopicConfigSerializeWrapper,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::RemotingCommand;
use bytes::Bytes;
use log::{info, warn};

use super::BrokerInner;
use crate::rt;
use crate::store::config_files::persist::ConfigManager;

const FIRST_DELAY: Duration = Duration::from_secs(3);
const PERIOD: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the waiting task looks at the shutdown flag.
const WAKE_SLICE: Duration = Duration::from_millis(200);

/// Run the sync on a slave until the broker shuts down (or is dropped).
pub fn start(b: &Arc<BrokerInner>) {
    let weak = Arc::downgrade(b);
    rt::spawn(async move {
        let mut wait = FIRST_DELAY;
        loop {
            let mut waited = Duration::ZERO;
            while waited < wait {
                rt::sleep(WAKE_SLICE).await;
                waited += WAKE_SLICE;
                match weak.upgrade() {
                    Some(b) if !b.is_shutting_down() => {}
                    _ => return,
                }
            }
            wait = PERIOD;
            let Some(b) = weak.upgrade() else { return };
            sync_all(&b).await;
        }
    });
}

/// One round against the current master (nothing when its address is unknown).
pub async fn sync_all(b: &Arc<BrokerInner>) {
    let Some(master) = b.master_addr() else {
        return;
    };
    if let Err(e) = sync_topics(b, &master).await {
        warn!("slave sync of topic configs from {master} failed: {e}");
    }
    if let Err(e) = sync_consumer_offsets(b, &master).await {
        warn!("slave sync of consumer offsets from {master} failed: {e}");
    }
    if let Err(e) = sync_delay_offsets(b, &master).await {
        warn!("slave sync of delay offsets from {master} failed: {e}");
    }
    if let Err(e) = sync_subscription_groups(b, &master).await {
        warn!("slave sync of subscription groups from {master} failed: {e}");
    }
}

/// The body of a successful answer to `code` from the master.
async fn fetch(b: &BrokerInner, master: &str, code: i32) -> Result<Bytes, String> {
    let addr = super::registration::resolve(master).await?;
    let cmd = RemotingCommand::request(code, 0);
    let resp = match rt::timeout(
        CALL_TIMEOUT + Duration::from_millis(500),
        b.ns_client.invoke(addr, cmd, CALL_TIMEOUT),
    )
    .await
    {
        Some(r) => r.map_err(|e| e.to_string())?,
        None => return Err("no answer".into()),
    };
    if resp.code != response::SUCCESS {
        return Err(format!(
            "code {} {}",
            resp.code,
            resp.remark.unwrap_or_default()
        ));
    }
    Ok(resp.body().cloned().unwrap_or_default())
}

async fn sync_topics(b: &Arc<BrokerInner>, master: &str) -> Result<(), String> {
    let body = fetch(b, master, rc::GET_ALL_TOPIC_CONFIG).await?;
    let w = TopicConfigSerializeWrapper::decode(&body).map_err(|e| e.to_string())?;
    if w.data_version == b.configs.topics.data_version() {
        return Ok(());
    }
    let b2 = Arc::clone(b);
    rt::unblock(move || {
        b2.configs
            .topics
            .replace_from_master(w.topic_config_table, w.data_version)
    })
    .await
    .map_err(|e| e.to_string())?;
    info!("update slave topic config from master, {master}");
    Ok(())
}

async fn sync_consumer_offsets(b: &Arc<BrokerInner>, master: &str) -> Result<(), String> {
    let body = fetch(b, master, rc::GET_ALL_CONSUMER_OFFSET).await?;
    let w = ConsumerOffsetSerializeWrapper::decode(&body).map_err(|e| e.to_string())?;
    let b2 = Arc::clone(b);
    rt::unblock(move || {
        let offsets = &b2.configs.consumer_offsets;
        offsets.put_all(w.offset_table);
        offsets.persist()
    })
    .await
    .map_err(|e| e.to_string())?;
    info!("update slave consumer offset from master, {master}");
    Ok(())
}

async fn sync_delay_offsets(b: &Arc<BrokerInner>, master: &str) -> Result<(), String> {
    let body = fetch(b, master, rc::GET_ALL_DELAY_OFFSET).await?;
    if body.is_empty() {
        return Ok(());
    }
    let b2 = Arc::clone(b);
    rt::unblock(move || b2.configs.delay_offsets.write_raw(&body))
        .await
        .map_err(|e| e.to_string())?;
    info!("update slave delay offset from master, {master}");
    Ok(())
}

async fn sync_subscription_groups(b: &Arc<BrokerInner>, master: &str) -> Result<(), String> {
    let body = fetch(b, master, rc::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
    let w = SubscriptionGroupWrapper::decode(&body).map_err(|e| e.to_string())?;
    if w.data_version == b.configs.subscription_groups.data_version() {
        return Ok(());
    }
    let b2 = Arc::clone(b);
    rt::unblock(move || b2.configs.subscription_groups.replace_from_master(w))
        .await
        .map_err(|e| e.to_string())?;
    info!("update slave subscription group from master, {master}");
    Ok(())
}
