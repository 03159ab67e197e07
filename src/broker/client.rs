//! Client management requests (Java `ClientManageProcessor` and part of
//! `ConsumerManageProcessor`, 4.9.8):
//!
//! * HEART_BEAT (34): register producer and consumer groups (see [`super::client_manager`]).
//!   For each consumer group: find or auto-create its subscription-group config and, when it
//!   has one, create `%RETRY%<group>` (the group's `retryQueueNums` queues, R|W); on a change,
//!   if both the broker's and the group's `notifyConsumerIdsChangedEnable` are on, tell every
//!   member (NOTIFY_CONSUMER_IDS_CHANGED, oneway). The answer is SUCCESS without extFields
//!   (heartbeat v2 is not advertised). An absent or empty body is an empty heartbeat.
//! * UNREGISTER_CLIENT (35): drop this connection from the named groups.
//! * GET_CONSUMER_LIST_BY_GROUP (38): the group's client ids; SYSTEM_ERROR when none.
//! * CHECK_CLIENT_CONFIG (46): TAG subscriptions pass; others need `enablePropertyFilter`
//!   (else SYSTEM_ERROR) and an expression that compiles (else SUBSCRIPTION_PARSE_FAILED with
//!   the parse error as remark).

use std::sync::Arc;

use apogee_codec::body::{
    CheckClientRequestBody, GetConsumerListByGroupResponseBody, HeartbeatData,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::client::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
    UnregisterClientResponseHeader,
};
use apogee_codec::RemotingCommand;
use log::{info, warn};

use super::client_manager::{notify_consumer_ids_changed, ClientChannel};
use super::processor::{bad_header, not_supported};
use super::BrokerInner;
use crate::remoting::{Connection, Reply};
use crate::store::config_files::topics::{perm, retry_topic};

/// `TopicSysFlag` bit of a unit-mode subscriber's retry topic (Java `FLAG_UNIT_SUB`).
const TOPIC_SYS_FLAG_UNIT_SUB: i32 = 0x2;

pub async fn process(b: &Arc<BrokerInner>, conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    match req.code {
        rc::HEART_BEAT => heartbeat(b, conn, &req),
        rc::UNREGISTER_CLIENT => unregister_client(b, conn, &req),
        rc::GET_CONSUMER_LIST_BY_GROUP => consumer_list(b, &req),
        rc::CHECK_CLIENT_CONFIG => check_client_config(b, &req),
        _ => not_supported(&req),
    }
}

fn heartbeat(b: &Arc<BrokerInner>, conn: &Arc<Connection>, req: &RemotingCommand) -> Reply {
    let data = match req.body() {
        None => HeartbeatData::default(),
        Some(body) if body.iter().all(u8::is_ascii_whitespace) => HeartbeatData::default(),
        Some(body) => match HeartbeatData::decode(body) {
            Ok(d) => d,
            Err(e) => {
                warn!("{conn:?}: undecodable heartbeat: {e}");
                return RemotingCommand::error_to(
                    req,
                    response::SYSTEM_ERROR,
                    format!("bad heartbeat body: {e}"),
                )
                .into();
            }
        },
    };
    let channel = ClientChannel::new(
        Arc::clone(conn),
        data.client_id.clone(),
        req.language.clone(),
        req.version,
    );

    for cd in &data.consumer_data_set {
        if cd.group_name.is_empty() {
            warn!("{conn:?}: heartbeat with a nameless consumer group ignored");
            continue;
        }
        let group_cfg = b
            .configs
            .subscription_groups
            .find_or_create(&cd.group_name, b.config.auto_create_subscription_group);
        let mut group_notify = true;
        if let Some(g) = &group_cfg {
            group_notify = g.notify_consumer_ids_changed_enable;
            let sys_flag = if cd.unit_mode {
                TOPIC_SYS_FLAG_UNIT_SUB
            } else {
                0
            };
            let (_tc, created) = b.configs.topics.create_topic_in_send_back_detailed(
                &retry_topic(&cd.group_name),
                g.retry_queue_nums,
                perm::READ | perm::WRITE,
                sys_flag,
            );
            if created {
                info!("created retry topic {}", retry_topic(&cd.group_name));
                // Announce it now, as Java does after creating a topic.
                crate::broker::registration::register_soon(b);
            }
        }
        let r = b.clients.register_consumer(
            &cd.group_name,
            channel.clone(),
            cd.consume_type,
            cd.message_model,
            cd.consume_from_where,
            &cd.subscription_data_set,
        );
        if r.changed {
            info!(
                "consumer group {} changed by client {} from {}",
                cd.group_name,
                data.client_id,
                conn.peer()
            );
            if group_notify && b.config.notify_consumer_ids_changed_enable {
                notify_consumer_ids_changed(&cd.group_name, r.channels);
            }
        }
    }
    for pd in &data.producer_data_set {
        if pd.group_name.is_empty() {
            continue;
        }
        b.clients.register_producer(&pd.group_name, channel.clone());
    }
    RemotingCommand::success_to(req).into()
}

fn unregister_client(b: &Arc<BrokerInner>, conn: &Arc<Connection>, req: &RemotingCommand) -> Reply {
    let h: UnregisterClientRequestHeader = match req.read_header() {
        Ok(h) => h,
        Err(e) => return bad_header(req, &e),
    };
    if let Some(group) = &h.producer_group {
        b.clients.unregister_producer(group, conn.id());
    }
    if let Some(group) = &h.consumer_group {
        let group_notify = b
            .configs
            .subscription_groups
            .find_or_create(group, b.config.auto_create_subscription_group)
            .is_none_or(|g| g.notify_consumer_ids_changed_enable);
        if let Some(remaining) = b.clients.unregister_consumer(group, conn.id()) {
            info!(
                "client {} from {} unregistered from consumer group {group}",
                h.client_id,
                conn.peer()
            );
            if group_notify && b.config.notify_consumer_ids_changed_enable {
                notify_consumer_ids_changed(group, remaining);
            }
        }
    }
    RemotingCommand::success_to(req)
        .with_header(&UnregisterClientResponseHeader {})
        .into()
}

fn consumer_list(b: &BrokerInner, req: &RemotingCommand) -> Reply {
    let h: GetConsumerListByGroupRequestHeader = match req.read_header() {
        Ok(h) => h,
        Err(e) => return bad_header(req, &e),
    };
    let ids = b.clients.consumer_ids(&h.consumer_group);
    if ids.is_empty() {
        warn!("no consumer online for group {}", h.consumer_group);
        return RemotingCommand::error_to(
            req,
            response::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        )
        .into();
    }
    let body = GetConsumerListByGroupResponseBody {
        consumer_id_list: ids,
    };
    RemotingCommand::success_to(req)
        .with_body(body.encode())
        .into()
}

fn check_client_config(b: &BrokerInner, req: &RemotingCommand) -> Reply {
    let Some(raw) = req.body() else {
        return RemotingCommand::success_to(req).into();
    };
    let body = match CheckClientRequestBody::decode(raw) {
        Ok(body) => body,
        Err(e) => {
            return RemotingCommand::error_to(
                req,
                response::SYSTEM_ERROR,
                format!("bad CheckClientRequestBody: {e}"),
            )
            .into()
        }
    };
    let Some(sub) = body.subscription_data else {
        return RemotingCommand::success_to(req).into();
    };
    if sub.is_tag_type() {
        return RemotingCommand::success_to(req).into();
    }
    if !b.config.enable_property_filter {
        return RemotingCommand::error_to(
            req,
            response::SYSTEM_ERROR,
            format!(
                "The broker does not support consumer to filter message by {}",
                sub.expression_type
            ),
        )
        .into();
    }
    match crate::filter::compile_subscription(&sub.expression_type, &sub.sub_string) {
        Ok(_) => RemotingCommand::success_to(req).into(),
        Err(e) => {
            warn!(
                "client {}@{} filter message, but failed to compile expression! sub={} ({}), error={e}",
                body.client_id, body.group, sub.sub_string, sub.expression_type
            );
            RemotingCommand::error_to(
                req,
                response::SUBSCRIPTION_PARSE_FAILED,
                format!("Invalid MessageSelector. {e}"),
            )
            .into()
        }
    }
}
