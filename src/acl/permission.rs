//! Permissions (Java `Permission`) and what each request needs (`PlainAccessValidator.parse`).
//!
//! A permission is a bit set: DENY (1), ANY (2), PUB (4), SUB (8). An owned permission with
//! DENY allows nothing. Groups are resources too: group `G` is the resource `%RETRY%G`, so a
//! consumer needs SUB on its group's retry topic; a send to a retry topic needs SUB on the
//! group it belongs to instead of PUB on the topic.

use apogee_codec::body::HeartbeatData;
use apogee_codec::codes::request as rc;
use apogee_codec::header::client::{
    GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader,
};
use apogee_codec::header::offset::UpdateConsumerOffsetRequestHeader;
use apogee_codec::RemotingCommand;

pub const DENY: u8 = 1;
pub const ANY: u8 = 1 << 1;
pub const PUB: u8 = 1 << 2;
pub const SUB: u8 = 1 << 3;

/// Prefix of retry topics; `%RETRY%<group>` stands for the group.
pub const RETRY_PREFIX: &str = "%RETRY%";

/// The message-trace topic: publishing to it needs no permission.
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Request codes only admin accounts may send (Java `Permission.ADMIN_CODE`).
pub const ADMIN_CODES: [i32; 5] = [
    rc::UPDATE_AND_CREATE_TOPIC,
    rc::UPDATE_BROKER_CONFIG,
    rc::DELETE_TOPIC_IN_BROKER,
    rc::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    rc::DELETE_SUBSCRIPTIONGROUP,
];

pub fn needs_admin(code: i32) -> bool {
    ADMIN_CODES.contains(&code)
}

/// `owned` grants `needed` (Java `Permission.checkPermission`).
pub fn check(needed: u8, owned: u8) -> bool {
    if owned & DENY != 0 {
        return false;
    }
    if needed & ANY != 0 {
        return owned & (PUB | SUB) != 0;
    }
    needed & owned != 0
}

/// `PUB`, `SUB`, `PUB|SUB`, `SUB|PUB`; anything else (and absent) is DENY.
pub fn parse(s: Option<&str>) -> u8 {
    match s.map(str::trim) {
        Some("PUB") => PUB,
        Some("SUB") => SUB,
        Some("PUB|SUB") | Some("SUB|PUB") => PUB | SUB,
        _ => DENY,
    }
}

/// True for a spelling [`parse`] understands (DENY included).
pub fn is_valid(s: &str) -> bool {
    matches!(s.trim(), "PUB" | "SUB" | "PUB|SUB" | "SUB|PUB" | "DENY")
}

pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

pub fn is_retry_topic(resource: &str) -> bool {
    resource.starts_with(RETRY_PREFIX)
}

/// `topic:<t>` or `group:<g>` as Java's remarks print a resource.
pub fn print_resource(resource: &str) -> String {
    match resource.strip_prefix(RETRY_PREFIX) {
        Some(group) => format!("group:{group}"),
        None => format!("topic:{resource}"),
    }
}

/// Resources a request needs, each with the permission needed (a later entry for the same
/// resource replaces an earlier one, as Java's map does). Empty: nothing to check beyond the
/// admin flag.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Needed(pub Vec<(String, u8)>);

impl Needed {
    fn add(&mut self, resource: Option<String>, perm: u8) {
        let Some(r) = resource else { return };
        match self.0.iter_mut().find(|(k, _)| *k == r) {
            Some(e) => e.1 = perm,
            None => self.0.push((r, perm)),
        }
    }

    pub fn get(&self, resource: &str) -> Option<u8> {
        self.0.iter().find(|(k, _)| k == resource).map(|e| e.1)
    }
}

/// What `req` needs (Java's per-code table). Err carries the message of a header or body that
/// does not decode (Java fails the request with it).
pub fn needed(req: &RemotingCommand) -> Result<Needed, String> {
    let mut n = Needed::default();
    let ext = |k: &str| req.ext(k).map(str::to_owned);
    let retry = |g: Option<String>| g.map(|g| retry_topic(&g));
    match req.code {
        rc::SEND_MESSAGE | rc::SEND_MESSAGE_V2 => {
            let (topic_key, group_key) = if req.code == rc::SEND_MESSAGE {
                ("topic", "group")
            } else {
                ("b", "a")
            };
            let topic = ext(topic_key);
            if topic.as_deref().is_some_and(is_retry_topic) {
                n.add(retry(ext(group_key)), SUB);
            } else {
                n.add(topic, PUB);
            }
        }
        rc::CONSUMER_SEND_MSG_BACK => n.add(retry(ext("group")), SUB),
        rc::PULL_MESSAGE => {
            n.add(ext("topic"), SUB);
            n.add(retry(ext("consumerGroup")), SUB);
        }
        rc::QUERY_MESSAGE => n.add(ext("topic"), SUB),
        rc::HEART_BEAT => {
            if let Some(body) = req.body() {
                let hb = HeartbeatData::decode(body).map_err(|e| e.to_string())?;
                for c in hb.consumer_data_set {
                    n.add(Some(retry_topic(&c.group_name)), SUB);
                    for s in c.subscription_data_set {
                        n.add(Some(s.topic), SUB);
                    }
                }
            }
        }
        rc::UNREGISTER_CLIENT => {
            let h: UnregisterClientRequestHeader = req.read_header().map_err(|e| e.to_string())?;
            n.add(retry(h.consumer_group), SUB);
        }
        rc::GET_CONSUMER_LIST_BY_GROUP => {
            let h: GetConsumerListByGroupRequestHeader =
                req.read_header().map_err(|e| e.to_string())?;
            n.add(Some(retry_topic(&h.consumer_group)), SUB);
        }
        rc::UPDATE_CONSUMER_OFFSET => {
            let h: UpdateConsumerOffsetRequestHeader =
                req.read_header().map_err(|e| e.to_string())?;
            n.add(Some(retry_topic(&h.consumer_group)), SUB);
            n.add(Some(h.topic), SUB);
        }
        _ => {}
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_matches_java() {
        assert!(check(PUB, PUB | SUB));
        assert!(!check(PUB, SUB));
        assert!(!check(SUB, DENY | SUB));
        assert!(check(ANY, SUB));
        assert!(!check(ANY, DENY));
        assert_eq!(parse(Some(" SUB|PUB ")), PUB | SUB);
        assert_eq!(parse(Some("pub")), DENY);
        assert_eq!(parse(None), DENY);
    }

    #[test]
    fn retry_send_needs_group_sub() {
        let mut r = RemotingCommand::request(rc::SEND_MESSAGE_V2, 1);
        r.ext_mut().insert("a", "G1");
        r.ext_mut().insert("b", "%RETRY%G1");
        assert_eq!(needed(&r).unwrap().0, vec![("%RETRY%G1".to_owned(), SUB)]);
        r.ext_mut().insert("b", "T");
        assert_eq!(needed(&r).unwrap().0, vec![("T".to_owned(), PUB)]);
    }

    #[test]
    fn pull_needs_topic_and_group() {
        let mut r = RemotingCommand::request(rc::PULL_MESSAGE, 1);
        r.ext_mut().insert("topic", "T");
        r.ext_mut().insert("consumerGroup", "G");
        let n = needed(&r).unwrap();
        assert_eq!(n.get("T"), Some(SUB));
        assert_eq!(n.get("%RETRY%G"), Some(SUB));
        assert_eq!(print_resource("%RETRY%G"), "group:G");
    }

    #[test]
    fn heartbeat_needs_its_groups_and_subscribed_topics() {
        let mut r = RemotingCommand::request(rc::HEART_BEAT, 1);
        r.ext_mut().insert("AccessKey", "ak");
        r.body = bytes::Bytes::from_static(
            br#"{"clientID":"c1","consumerDataSet":[{"groupName":"G1","subscriptionDataSet":[{"topic":"T1","subString":"*"},{"topic":"%RETRY%G1","subString":"*"}]}],"producerDataSet":[{"groupName":"PG"}]}"#,
        );
        let n = needed(&r).unwrap();
        assert_eq!(n.get("%RETRY%G1"), Some(SUB));
        assert_eq!(n.get("T1"), Some(SUB));
        assert_eq!(n.0.len(), 2);
        r.body = bytes::Bytes::from_static(b"not json");
        assert!(needed(&r).is_err());
    }

    #[test]
    fn offset_update_without_group_is_an_error() {
        let mut r = RemotingCommand::request(rc::UPDATE_CONSUMER_OFFSET, 1);
        r.ext_mut().insert("topic", "T");
        assert!(needed(&r).is_err());
    }
}
