//! ACL administration (4.9.8 `AdminBrokerProcessor`): UPDATE_AND_CREATE_ACL_CONFIG (50),
//! DELETE_ACL_CONFIG (51), GET_BROKER_CLUSTER_ACL_INFO (52),
//! UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53).
//!
//! The per-request credentials (`AccessKey`, `Signature`, `SecurityToken`) are not a header:
//! they ride in every request's ext fields next to its own header (see
//! [`RpcRequestHeader`](crate::header::RpcRequestHeader)).

define_header! {
    /// Java `CreateAccessConfigRequestHeader`: `UPDATE_AND_CREATE_ACL_CONFIG` (50). The perm
    /// lists are comma-separated `resource=PERM` items.
    pub struct CreateAccessConfigRequestHeader = "CreateAccessConfigRequestHeader" {
        access_key: req String = "accessKey",
        secret_key: opt String = "secretKey",
        white_remote_address: opt String = "whiteRemoteAddress",
        /// A Java primitive: always sent.
        admin: opt bool = "admin",
        default_topic_perm: opt String = "defaultTopicPerm",
        default_group_perm: opt String = "defaultGroupPerm",
        topic_perms: opt String = "topicPerms",
        group_perms: opt String = "groupPerms",
    }
}

define_header! {
    /// Java `DeleteAccessConfigRequestHeader`: `DELETE_ACL_CONFIG` (51).
    pub struct DeleteAccessConfigRequestHeader = "DeleteAccessConfigRequestHeader" {
        access_key: req String = "accessKey",
    }
}

define_header! {
    /// Java `UpdateGlobalWhiteAddrsConfigRequestHeader`: `UPDATE_GLOBAL_WHITE_ADDRS_CONFIG`
    /// (53). `globalWhiteAddrs` is comma-separated.
    pub struct UpdateGlobalWhiteAddrsConfigRequestHeader = "UpdateGlobalWhiteAddrsConfigRequestHeader" {
        global_white_addrs: req String = "globalWhiteAddrs",
        acl_file_full_path: req String = "aclFileFullPath",
    }
}

define_header! {
    /// Java `GetBrokerAclConfigResponseHeader`: the answer to `GET_BROKER_CLUSTER_ACL_INFO`
    /// (52).
    pub struct GetBrokerAclConfigResponseHeader = "GetBrokerAclConfigResponseHeader" {
        /// The default ACL file's DataVersion as JSON text.
        version: req String = "version",
        /// JSON object: ACL file path → DataVersion.
        all_acl_file_version: opt String = "allAclFileVersion",
        broker_name: req String = "brokerName",
        broker_addr: req String = "brokerAddr",
        cluster_name: req String = "clusterName",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommandHeader;
    use crate::ExtFields;

    #[test]
    fn create_access_config_round_trips() {
        let mut f = ExtFields::new();
        f.insert("accessKey", "RocketMQ");
        f.insert("secretKey", "12345678");
        f.insert("admin", "true");
        f.insert("topicPerms", "topicA=PUB,topicB=SUB");
        let h = CreateAccessConfigRequestHeader::read_fields(&f).unwrap();
        assert_eq!(h.access_key, "RocketMQ");
        assert_eq!(h.admin, Some(true));
        assert_eq!(h.topic_perms.as_deref(), Some("topicA=PUB,topicB=SUB"));
        let mut out = ExtFields::new();
        h.write_fields(&mut out);
        assert_eq!(out.get("secretKey"), Some("12345678"));
        assert!(DeleteAccessConfigRequestHeader::read_fields(&ExtFields::new()).is_err());
    }
}
