//! Name server requests: KV config (100–102, 219), broker registration (103, 104, 322),
//! routes (105), write permission (205, 327), topics (216, 217, 224).

use crate::header::RpcRequestHeader;

define_header! {
    /// Java `PutKVConfigRequestHeader`: `PUT_KV_CONFIG` (100).
    pub struct PutKVConfigRequestHeader = "PutKVConfigRequestHeader" {
        namespace: req String = "namespace",
        key: req String = "key",
        value: req String = "value",
    }
}

define_header! {
    /// Java `GetKVConfigRequestHeader`: `GET_KV_CONFIG` (101).
    pub struct GetKVConfigRequestHeader = "GetKVConfigRequestHeader" {
        namespace: req String = "namespace",
        key: req String = "key",
    }
}

define_header! {
    /// Java `GetKVConfigResponseHeader`: response to code 101 (QUERY_NOT_FOUND when absent).
    pub struct GetKVConfigResponseHeader = "GetKVConfigResponseHeader" {
        value: opt String = "value",
    }
}

define_header! {
    /// Java `DeleteKVConfigRequestHeader`: `DELETE_KV_CONFIG` (102).
    pub struct DeleteKVConfigRequestHeader = "DeleteKVConfigRequestHeader" {
        namespace: req String = "namespace",
        key: req String = "key",
    }
}

define_header! {
    /// Java `GetKVListByNamespaceRequestHeader`: `GET_KVLIST_BY_NAMESPACE` (219).
    pub struct GetKVListByNamespaceRequestHeader = "GetKVListByNamespaceRequestHeader" {
        namespace: req String = "namespace",
    }
}

define_header! {
    /// Java `RegisterBrokerRequestHeader`: `REGISTER_BROKER` (103), broker → name server.
    ///
    /// With `compressed` the body is the deflated binary form of `RegisterBrokerBody`;
    /// `body_crc32` is `crc32(body) & 0x7FFFFFFF` over the bytes as sent, 0 = unchecked.
    pub struct RegisterBrokerRequestHeader = "RegisterBrokerRequestHeader" {
        broker_name: req String = "brokerName",
        /// `ip:port` of the broker.
        broker_addr: req String = "brokerAddr",
        cluster_name: req String = "clusterName",
        /// `ip:port` of the HA service.
        ha_server_addr: req String = "haServerAddr",
        /// 0 = master.
        broker_id: req i64 = "brokerId",
        /// 5.x: broker's heartbeat timeout, ms.
        heartbeat_timeout_millis: opt i64 = "heartbeatTimeoutMillis",
        /// 5.x.
        enable_acting_master: opt bool = "enableActingMaster",
        /// Body is compressed (Java primitive, always sent).
        compressed: dflt bool = "compressed" => false,
        /// CRC of the body (Java `Integer` initialised to 0, always sent).
        body_crc32: dflt i32 = "bodyCrc32" => 0,
    }
}

define_header! {
    /// Java `RegisterBrokerResponseHeader`: response to code 103 (for slaves: the master's
    /// HA and broker addresses).
    pub struct RegisterBrokerResponseHeader = "RegisterBrokerResponseHeader" {
        ha_server_addr: opt String = "haServerAddr",
        master_addr: opt String = "masterAddr",
    }
}

define_header! {
    /// Java `UnRegisterBrokerRequestHeader`: `UNREGISTER_BROKER` (104).
    pub struct UnRegisterBrokerRequestHeader = "UnRegisterBrokerRequestHeader" {
        broker_name: req String = "brokerName",
        broker_addr: req String = "brokerAddr",
        cluster_name: req String = "clusterName",
        broker_id: req i64 = "brokerId",
    }
}

define_header! {
    /// Java `QueryDataVersionRequestHeader`: `QUERY_DATA_VERSION` (322); body = DataVersion.
    pub struct QueryDataVersionRequestHeader = "QueryDataVersionRequestHeader" {
        broker_name: req String = "brokerName",
        broker_addr: req String = "brokerAddr",
        cluster_name: req String = "clusterName",
        broker_id: req i64 = "brokerId",
    }
}

define_header! {
    /// Java `QueryDataVersionResponseHeader`: response to code 322.
    pub struct QueryDataVersionResponseHeader = "QueryDataVersionResponseHeader" {
        /// The name server's data version differs from the broker's.
        changed: req bool = "changed",
    }
}

define_header! {
    /// Java `GetRouteInfoRequestHeader`: `GET_ROUTEINFO_BY_TOPIC` (105).
    pub struct GetRouteInfoRequestHeader = "GetRouteInfoRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        /// Ask for standard JSON route data (as for request version >= 401).
        accept_standard_json_only: opt bool = "acceptStandardJsonOnly",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `WipeWritePermOfBrokerRequestHeader`: `WIPE_WRITE_PERM_OF_BROKER` (205).
    pub struct WipeWritePermOfBrokerRequestHeader = "WipeWritePermOfBrokerRequestHeader" {
        broker_name: req String = "brokerName",
    }
}

define_header! {
    /// Java `WipeWritePermOfBrokerResponseHeader`: response to code 205.
    pub struct WipeWritePermOfBrokerResponseHeader = "WipeWritePermOfBrokerResponseHeader" {
        wipe_topic_count: req i32 = "wipeTopicCount",
    }
}

define_header! {
    /// Java `AddWritePermOfBrokerRequestHeader`: `ADD_WRITE_PERM_OF_BROKER` (327).
    pub struct AddWritePermOfBrokerRequestHeader = "AddWritePermOfBrokerRequestHeader" {
        broker_name: req String = "brokerName",
    }
}

define_header! {
    /// Java `AddWritePermOfBrokerResponseHeader`: response to code 327.
    pub struct AddWritePermOfBrokerResponseHeader = "AddWritePermOfBrokerResponseHeader" {
        add_topic_count: req i32 = "addTopicCount",
    }
}

define_header! {
    /// Java `DeleteTopicFromNamesrvRequestHeader`: `DELETE_TOPIC_IN_NAMESRV` (216).
    pub struct DeleteTopicFromNamesrvRequestHeader = "DeleteTopicFromNamesrvRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        /// Restrict to one cluster.
        cluster_name: opt String = "clusterName",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `RegisterTopicRequestHeader` (5.x): `REGISTER_TOPIC_IN_NAMESRV` (217); body =
    /// TopicRouteData.
    pub struct RegisterTopicRequestHeader = "RegisterTopicRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetTopicsByClusterRequestHeader`: `GET_TOPICS_BY_CLUSTER` (224).
    pub struct GetTopicsByClusterRequestHeader = "GetTopicsByClusterRequestHeader" {
        cluster: req String = "cluster",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::{arb, check_header, round_trip};
    use proptest::prelude::*;

    fn register_sample() -> RegisterBrokerRequestHeader {
        RegisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: "10.0.0.1:10911".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "10.0.0.1:10912".into(),
            broker_id: 0,
            heartbeat_timeout_millis: Some(120_000),
            enable_acting_master: Some(false),
            compressed: true,
            body_crc32: 0x7fff_ffff,
        }
    }

    #[test]
    fn headers_check() {
        check_header(PutKVConfigRequestHeader {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: "T".into(),
            value: "broker-a:4".into(),
        });
        check_header(GetKVConfigRequestHeader {
            namespace: "ns".into(),
            key: "k".into(),
        });
        check_header(GetKVConfigResponseHeader {
            value: Some("v".into()),
        });
        check_header(DeleteKVConfigRequestHeader {
            namespace: "ns".into(),
            key: "k".into(),
        });
        check_header(GetKVListByNamespaceRequestHeader {
            namespace: "ns".into(),
        });
        check_header(register_sample());
        check_header(RegisterBrokerResponseHeader {
            ha_server_addr: Some("h".into()),
            master_addr: Some("m".into()),
        });
        check_header(UnRegisterBrokerRequestHeader {
            broker_name: "b".into(),
            broker_addr: "a".into(),
            cluster_name: "c".into(),
            broker_id: 1,
        });
        check_header(QueryDataVersionRequestHeader {
            broker_name: "b".into(),
            broker_addr: "a".into(),
            cluster_name: "c".into(),
            broker_id: 0,
        });
        check_header(QueryDataVersionResponseHeader { changed: true });
        check_header(GetRouteInfoRequestHeader {
            rpc: RpcRequestHeader::default(),
            topic: "T".into(),
            accept_standard_json_only: Some(true),
            lo: Some(false),
        });
        check_header(WipeWritePermOfBrokerRequestHeader {
            broker_name: "b".into(),
        });
        check_header(WipeWritePermOfBrokerResponseHeader {
            wipe_topic_count: 3,
        });
        check_header(AddWritePermOfBrokerRequestHeader {
            broker_name: "b".into(),
        });
        check_header(AddWritePermOfBrokerResponseHeader { add_topic_count: 2 });
        check_header(DeleteTopicFromNamesrvRequestHeader {
            rpc: RpcRequestHeader::default(),
            topic: "T".into(),
            cluster_name: Some("c".into()),
            lo: Some(false),
        });
        check_header(RegisterTopicRequestHeader {
            rpc: RpcRequestHeader::default(),
            topic: "T".into(),
            lo: Some(true),
        });
        check_header(GetTopicsByClusterRequestHeader {
            cluster: "c".into(),
        });
    }

    #[test]
    fn register_broker_java_4_9_defaults() {
        // A 4.9.8 broker always sends compressed and bodyCrc32; older ones may not.
        let mut m = ExtFields::new();
        for (k, v) in [
            ("brokerName", "b"),
            ("brokerAddr", "1.2.3.4:10911"),
            ("clusterName", "c"),
            ("haServerAddr", "1.2.3.4:10912"),
            ("brokerId", "0"),
        ] {
            m.insert(k, v);
        }
        let h = RegisterBrokerRequestHeader::read_fields(&m).unwrap();
        assert!(!h.compressed);
        assert_eq!(h.body_crc32, 0);
        assert_eq!(h.heartbeat_timeout_millis, None);
        let out = h.to_ext_fields();
        assert_eq!(out.get("compressed"), Some("false"));
        assert_eq!(out.get("bodyCrc32"), Some("0"));
    }

    #[test]
    fn get_route_info_flag() {
        let mut m = ExtFields::new();
        m.insert("topic", "TBW102");
        let h = GetRouteInfoRequestHeader::read_fields(&m).unwrap();
        assert_eq!(h.accept_standard_json_only, None);
        // C++/ali-ons noise.
        m.insert("AccessKey", "");
        m.insert("Signature", "sig");
        m.insert("acceptStandardJsonOnly", "true");
        let h = GetRouteInfoRequestHeader::read_fields(&m).unwrap();
        assert_eq!(h.accept_standard_json_only, Some(true));
    }

    prop_compose! {
        fn arb_register()(
            (broker_name, broker_addr, cluster_name, ha_server_addr) in
                (arb::text(), arb::text(), arb::text(), arb::text()),
            broker_id in any::<i64>(),
            heartbeat_timeout_millis in any::<Option<i64>>(),
            enable_acting_master in any::<Option<bool>>(),
            compressed in any::<bool>(),
            body_crc32 in any::<i32>(),
        ) -> RegisterBrokerRequestHeader {
            RegisterBrokerRequestHeader {
                broker_name, broker_addr, cluster_name, ha_server_addr, broker_id,
                heartbeat_timeout_millis, enable_acting_master, compressed, body_crc32,
            }
        }
    }

    proptest! {
        #[test]
        fn prop_register_broker_round_trip(h in arb_register()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_register_broker_response_round_trip(
            ha_server_addr in arb::opt_text(),
            master_addr in arb::opt_text(),
        ) {
            let h = RegisterBrokerResponseHeader { ha_server_addr, master_addr };
            prop_assert_eq!(round_trip(&h), h);
        }
    }
}
