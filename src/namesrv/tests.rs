use std::collections::BTreeMap;
use std::sync::Arc;

use apogee_codec::body::{
    properties, DataVersion, KVTable, QueueData, RegisterBrokerBody, TopicConfig,
    TopicConfigSerializeWrapper, TopicList, TopicRouteData,
};
use apogee_codec::codes::{request, response};
use apogee_codec::header::{
    GetKVConfigRequestHeader, GetRouteInfoRequestHeader, PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    WipeWritePermOfBrokerRequestHeader, WipeWritePermOfBrokerResponseHeader,
};
use apogee_codec::{RemotingCommand, SerializeType};

use super::route_info::{perm, ConnRef};
use super::*;
use crate::rt;

fn wrapper(topics: &[(&str, i32, i32)], counter: i64) -> TopicConfigSerializeWrapper {
    let mut w = TopicConfigSerializeWrapper {
        data_version: DataVersion::new(counter, 1_700_000_000_000 + counter),
        ..Default::default()
    };
    for (name, p, queues) in topics {
        let mut tc = TopicConfig::new(*name);
        tc.perm = *p;
        tc.read_queue_nums = *queues;
        tc.write_queue_nums = *queues;
        w.topic_config_table.insert((*name).to_owned(), tc);
    }
    w
}

fn reg(
    cluster: &str,
    name: &str,
    id: i64,
    addr: &str,
    topics: &[(&str, i32, i32)],
    counter: i64,
) -> BrokerRegistration {
    BrokerRegistration {
        cluster_name: cluster.into(),
        broker_addr: addr.into(),
        broker_name: name.into(),
        broker_id: id,
        ha_server_addr: addr.replace(":10911", ":10912"),
        topic_config_wrapper: wrapper(topics, counter),
        filter_server_list: Some(Vec::new()),
        conn: None,
        heartbeat_timeout_ms: None,
    }
}

const M: &str = "10.0.0.1:10911";
const S: &str = "10.0.0.2:10911";

fn topics(l: &TopicList) -> Vec<&str> {
    l.topic_list.iter().map(String::as_str).collect()
}

#[test]
fn register_master_and_slave() {
    let r = RouteInfoManager::new();
    let res = r.register_broker_at(
        reg("C", "b", 0, M, &[("T", 6, 4), ("TBW102", 7, 8)], 1),
        false,
        0,
    );
    assert_eq!(
        res,
        RegisterBrokerResult::default(),
        "a master learns nothing"
    );
    // A slave's own topic list never becomes queue data.
    let res = r.register_broker_at(reg("C", "b", 1, S, &[("SlaveOnly", 6, 4)], 1), false, 0);
    assert_eq!(res.master_addr.as_deref(), Some(M));
    assert_eq!(res.ha_server_addr.as_deref(), Some("10.0.0.1:10912"));
    assert!(r.pickup_topic_route_data("SlaveOnly").is_none());

    let route = r.pickup_topic_route_data("T").unwrap();
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(route.broker_datas.len(), 1);
    let addrs = &route.broker_datas[0].broker_addrs;
    assert_eq!((addrs[&0].as_str(), addrs[&1].as_str()), (M, S));
    assert_eq!(route.broker_datas[0].cluster, "C");
    assert!(route.filter_server_table.is_empty());

    // TBW102 is routable with its INHERIT bit (producers auto-create through it).
    let tbw = r.pickup_topic_route_data("TBW102").unwrap();
    assert_eq!(tbw.queue_datas[0].perm, 7);
    assert_eq!(tbw.queue_datas[0].read_queue_nums, 8);

    let ci = r.cluster_info();
    assert_eq!(ci.cluster_addr_table["C"].len(), 1);
    assert_eq!(ci.broker_addr_table["b"].broker_addrs.len(), 2);

    // A slave registering before its master gets no master address.
    let r2 = RouteInfoManager::new();
    let res = r2.register_broker_at(reg("C", "b", 1, S, &[], 1), false, 0);
    assert_eq!(res, RegisterBrokerResult::default());
}

#[test]
fn data_version_gates_queue_updates() {
    let r = RouteInfoManager::new();
    r.register_broker_at(reg("C", "b", 0, M, &[("T", 6, 4)], 1), false, 0);
    // Same version, different content: not looked at (Java trusts the version).
    r.register_broker_at(reg("C", "b", 0, M, &[("T", 6, 16)], 1), false, 1);
    assert_eq!(
        r.pickup_topic_route_data("T").unwrap().queue_datas[0].write_queue_nums,
        4
    );
    // Newer version: rebuilt.
    r.register_broker_at(
        reg("C", "b", 0, M, &[("T", 6, 16), ("U", 6, 2)], 2),
        false,
        2,
    );
    assert_eq!(
        r.pickup_topic_route_data("T").unwrap().queue_datas[0].write_queue_nums,
        16
    );
    assert!(r.pickup_topic_route_data("U").is_some());
    // 4.9.8 keeps topics the broker no longer lists ...
    r.register_broker_at(reg("C", "b", 0, M, &[("T", 6, 16)], 3), false, 3);
    assert!(r.pickup_topic_route_data("U").is_some());
    // ... unless deleteTopicWithBrokerRegistration (5.x) is on.
    r.register_broker_at(reg("C", "b", 0, M, &[("T", 6, 16)], 4), true, 4);
    assert!(r.pickup_topic_route_data("U").is_none());
    assert!(r.pickup_topic_route_data("T").is_some());
    assert!(!r.is_broker_topic_config_changed(M, &wrapper(&[], 4).data_version));
    assert!(r.is_broker_topic_config_changed(M, &wrapper(&[], 5).data_version));
    assert!(r.is_broker_topic_config_changed("nobody:1", &DataVersion::default()));
}

#[test]
fn same_address_under_new_id_replaces_old() {
    let r = RouteInfoManager::new();
    r.register_broker_at(reg("C", "b", 0, M, &[("T", 6, 4)], 1), false, 0);
    r.register_broker_at(reg("C", "b", 1, S, &[], 1), false, 0);
    // The master goes away and the slave is promoted: same address, id 0.
    r.unregister_broker("C", M, "b", 0);
    r.register_broker_at(reg("C", "b", 0, S, &[("T", 6, 4)], 1), false, 0);
    let addrs = r.broker_addrs("b");
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[&0], S);
}

#[test]
fn expiry_after_silence() {
    let r = RouteInfoManager::new();
    r.register_broker_at(reg("C", "b", 0, M, &[("T", 6, 4)], 1), false, 1_000);
    let mut short = reg("C", "x", 0, "10.0.0.9:10911", &[("X", 6, 1)], 1);
    short.heartbeat_timeout_ms = Some(10_000);
    r.register_broker_at(short, false, 1_000);
    assert!(r.scan_not_active_brokers_at(1_000 + 10_000).is_empty());
    assert_eq!(
        r.scan_not_active_brokers_at(1_000 + 10_001),
        vec!["10.0.0.9:10911".to_string()]
    );
    assert!(r.pickup_topic_route_data("X").is_none());
    // A refresh keeps the broker alive.
    assert!(r.update_broker_timestamp(M, 60_000));
    assert!(r.scan_not_active_brokers_at(121_001).is_empty());
    assert_eq!(r.scan_not_active_brokers_at(180_001), vec![M.to_string()]);
    assert!(r.pickup_topic_route_data("T").is_none());
    assert!(r.cluster_info().cluster_addr_table.is_empty());
    assert!(r.cluster_info().broker_addr_table.is_empty());
    assert!(!r.update_broker_timestamp(M, 200_000));
}

#[test]
fn connection_close_removes_broker() {
    let r = RouteInfoManager::new();
    let mut m = reg("C", "b", 0, M, &[("T", 6, 4)], 1);
    m.conn = Some(ConnRef::detached(7));
    r.register_broker_at(m, false, 0);
    let mut s = reg("C", "b", 1, S, &[], 1);
    s.conn = Some(ConnRef::detached(8));
    r.register_broker_at(s, false, 0);
    assert_eq!(r.on_connection_closed(99), None, "not a broker connection");
    // The master's connection closes: the route remains (the slave still serves reads) but
    // has no master address, so no publish queues.
    assert_eq!(r.on_connection_closed(7).as_deref(), Some(M));
    let route = r.pickup_topic_route_data("T").unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs.len(), 1);
    assert!(route.broker_datas[0].master_addr().is_none());
    assert_eq!(r.on_connection_closed(8).as_deref(), Some(S));
    assert!(r.pickup_topic_route_data("T").is_none());
    assert!(r.all_topics().topic_list.is_empty());
    assert!(r.broker_live_info(S).is_none());
}

#[test]
fn unregister_and_clusters() {
    let r = RouteInfoManager::new();
    r.register_broker_at(
        reg("C1", "a", 0, M, &[("T", 6, 4), ("A", 6, 4)], 1),
        false,
        0,
    );
    r.register_broker_at(
        reg(
            "C2",
            "b",
            0,
            "10.0.0.3:10911",
            &[("T", 6, 4), ("B", 6, 4)],
            1,
        ),
        false,
        0,
    );
    assert_eq!(topics(&r.topics_by_cluster("C1")), vec!["A", "T"]);
    assert_eq!(topics(&r.topics_by_cluster("C2")), vec!["B", "T"]);
    assert!(r.topics_by_cluster("nope").topic_list.is_empty());
    let sys = r.system_topics();
    assert_eq!(topics(&sys), vec!["C1", "C2", "a", "b"]);
    assert_eq!(sys.broker_addr.as_deref(), Some(M));
    assert_eq!(r.pickup_topic_route_data("T").unwrap().queue_datas.len(), 2);

    r.unregister_broker("C1", M, "a", 0);
    assert!(r.pickup_topic_route_data("A").is_none());
    let t = r.pickup_topic_route_data("T").unwrap();
    assert_eq!(t.queue_datas.len(), 1);
    assert_eq!(t.queue_datas[0].broker_name, "b");
    assert!(!r.cluster_info().cluster_addr_table.contains_key("C1"));
}

#[test]
fn write_perm_and_delete_topic() {
    let r = RouteInfoManager::new();
    r.register_broker_at(
        reg("C", "a", 0, M, &[("T", 6, 4), ("U", 7, 4)], 1),
        false,
        0,
    );
    r.register_broker_at(reg("C", "b", 0, S, &[("T", 6, 4)], 1), false, 0);
    assert_eq!(r.wipe_write_perm_of_broker("a"), 2);
    assert_eq!(r.wipe_write_perm_of_broker("nobody"), 0);
    let t = r.pickup_topic_route_data("T").unwrap();
    let perm_of = |route: &TopicRouteData, b: &str| {
        route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == b)
            .map(|q| q.perm)
    };
    assert_eq!(perm_of(&t, "a"), Some(perm::READ));
    assert_eq!(perm_of(&t, "b"), Some(perm::READ | perm::WRITE));
    let u = r.pickup_topic_route_data("U").unwrap();
    assert_eq!(perm_of(&u, "a"), Some(perm::READ | perm::INHERIT));
    assert_eq!(r.add_write_perm_of_broker("a"), 2);
    let u = r.pickup_topic_route_data("U").unwrap();
    assert_eq!(perm_of(&u, "a"), Some(perm::READ | perm::WRITE));

    r.delete_topic("U");
    assert!(r.pickup_topic_route_data("U").is_none());
    r.delete_topic_in_cluster("T", "other");
    assert_eq!(r.pickup_topic_route_data("T").unwrap().queue_datas.len(), 2);
    r.delete_topic_in_cluster("T", "C");
    assert!(r.pickup_topic_route_data("T").is_none());
}

#[test]
fn unit_topics_and_filter_servers() {
    let r = RouteInfoManager::new();
    let mut w = reg("C", "a", 0, M, &[("U", 6, 1), ("S", 6, 1), ("US", 6, 1)], 1);
    let table = &mut w.topic_config_wrapper.topic_config_table;
    table.get_mut("U").unwrap().topic_sys_flag = 1;
    table.get_mut("S").unwrap().topic_sys_flag = 2;
    table.get_mut("US").unwrap().topic_sys_flag = 3;
    w.filter_server_list = Some(vec!["10.0.0.1:30000".into()]);
    r.register_broker_at(w, false, 0);
    assert_eq!(topics(&r.unit_topics()), vec!["U", "US"]);
    assert_eq!(topics(&r.has_unit_sub_topics()), vec!["S", "US"]);
    assert_eq!(topics(&r.has_unit_sub_ununit_topics()), vec!["S"]);
    let route = r.pickup_topic_route_data("U").unwrap();
    assert_eq!(route.filter_server_table[M], vec!["10.0.0.1:30000"]);
    assert_eq!(route.queue_datas[0].topic_sys_flag, 1);
}

#[test]
fn register_topic_directly() {
    let r = RouteInfoManager::new();
    r.register_broker_at(reg("C", "a", 0, M, &[], 1), false, 0);
    let qd = |b: &str| QueueData {
        broker_name: b.into(),
        perm: 6,
        read_queue_nums: 2,
        topic_sys_flag: 0,
        write_queue_nums: 2,
    };
    assert!(!r.register_topic("T", &[qd("unknown")]));
    assert!(r.pickup_topic_route_data("T").is_none());
    assert!(r.register_topic("T", &[qd("a")]));
    assert_eq!(r.pickup_topic_route_data("T").unwrap().queue_datas.len(), 1);
}

#[test]
fn kv_config_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("namesrv").join("kvConfig.json");
    let kv = KvConfigManager::load(&path).unwrap();
    assert_eq!(kv.get("ns", "k"), None);
    kv.put("ns", "k", "v");
    kv.put("ns", "k2", "v2");
    kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "T", "a:4;b:4");
    kv.persist().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"a:4;b:4"},"ns":{"k":"v","k2":"v2"}}}"#
    );
    assert_eq!(kv.delete("ns", "k2").as_deref(), Some("v2"));
    kv.persist().unwrap();
    let back = KvConfigManager::load(&path).unwrap();
    assert_eq!(back.get("ns", "k").as_deref(), Some("v"));
    assert_eq!(back.get("ns", "k2"), None);
    assert_eq!(back.namespace("ns").unwrap().len(), 1);
    assert!(back.namespace("none").is_none());
    // A file written by Java (fastjson) loads as well.
    std::fs::write(&path, r#"{"configTable":{"x":{"a":"1"}}}"#).unwrap();
    assert_eq!(
        KvConfigManager::load(&path)
            .unwrap()
            .get("x", "a")
            .as_deref(),
        Some("1")
    );
    // Garbage with a good backup: the backup is used; garbage alone is an error.
    std::fs::write(&path, b"{not json").unwrap();
    assert!(KvConfigManager::load(&path).is_ok());
    std::fs::remove_file(dir.path().join("namesrv").join("kvConfig.json.bak")).unwrap();
    assert!(
        KvConfigManager::load(&path).is_ok(),
        "no backup: empty table"
    );
    std::fs::write(dir.path().join("namesrv").join("kvConfig.json.bak"), b"[").unwrap();
    assert!(KvConfigManager::load(&path).is_err());
}

// ---- the processor, in-process -------------------------------------------------------

fn processor(config: NamesrvConfig) -> NamesrvProcessor {
    NamesrvProcessor::new(
        config,
        BTreeMap::new(),
        Arc::new(RouteInfoManager::new()),
        Arc::new(KvConfigManager::in_memory()),
    )
}

fn call(p: &NamesrvProcessor, req: RemotingCommand) -> RemotingCommand {
    let resp = rt::block_on(p.process(None, &req));
    assert!(resp.is_response());
    assert_eq!(resp.opaque, req.opaque);
    assert_eq!(resp.serialize_type, req.serialize_type);
    assert_eq!(resp.version, apogee_codec::codes::CURRENT_VERSION);
    resp
}

fn register_req(
    body: &RegisterBrokerBody,
    id: i64,
    addr: &str,
    compressed: bool,
) -> RemotingCommand {
    let bytes = body.encode_with(compressed);
    let crc = (crc32fast::hash(&bytes) & 0x7FFF_FFFF) as i32;
    RemotingCommand::request(request::REGISTER_BROKER, 1)
        .with_header(&RegisterBrokerRequestHeader {
            broker_name: "b".into(),
            broker_addr: addr.into(),
            cluster_name: "C".into(),
            ha_server_addr: "h:1".into(),
            broker_id: id,
            compressed,
            body_crc32: crc,
            ..Default::default()
        })
        .with_body(bytes)
}

fn route_req(topic: &str) -> RemotingCommand {
    RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 3).with_header(
        &GetRouteInfoRequestHeader {
            topic: topic.into(),
            ..Default::default()
        },
    )
}

#[test]
fn processor_registration_and_routes() {
    let p = processor(NamesrvConfig {
        order_message_enable: true,
        ..Default::default()
    });
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: wrapper(&[("T", 6, 4)], 1),
    };
    let r = call(&p, register_req(&body, 0, M, false));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert!(r.body.is_empty(), "no ORDER_TOPIC_CONFIG namespace yet");
    // A bad CRC is refused.
    let mut bad = register_req(&body, 0, M, false);
    bad.ext_mut().insert("bodyCrc32", "12345");
    let r = call(&p, bad);
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (response::SYSTEM_ERROR, Some("crc32 not match"))
    );
    // An undecodable body is a SYSTEM_ERROR, not a panic or a silence.
    let mut junk = register_req(&body, 0, M, true);
    junk.body = bytes::Bytes::from_static(b"not zlib");
    junk.ext_mut().insert("bodyCrc32", "0");
    let r = call(&p, junk);
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("RegisterBrokerBody"));

    // Order topic config comes back to registering brokers and into routes.
    let put = RemotingCommand::request(request::PUT_KV_CONFIG, 2).with_header(
        &PutKVConfigRequestHeader {
            namespace: NAMESPACE_ORDER_TOPIC_CONFIG.into(),
            key: "T".into(),
            value: "b:4".into(),
        },
    );
    assert_eq!(call(&p, put).code, response::SUCCESS);
    let r = call(&p, register_req(&body, 1, S, true));
    assert_eq!(r.code, response::SUCCESS);
    let h: RegisterBrokerResponseHeader = r.read_header().unwrap();
    assert_eq!(h.master_addr.as_deref(), Some(M));
    assert_eq!(h.ha_server_addr.as_deref(), Some("h:1"));
    assert_eq!(KVTable::decode(&r.body).unwrap().table["T"], "b:4");

    let r = call(&p, route_req("T"));
    assert_eq!(r.code, response::SUCCESS);
    let text = std::str::from_utf8(&r.body).unwrap();
    assert!(
        text.contains(r#""brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}"#),
        "{text}"
    );
    let route = TopicRouteData::decode(&r.body).unwrap();
    assert_eq!(route.order_topic_conf.as_deref(), Some("b:4"));

    let r = call(&p, route_req("Nope"));
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    assert!(r
        .remark
        .unwrap()
        .starts_with("No topic route info in name server for the topic: Nope"));
}

#[test]
fn processor_old_broker_body_shape() {
    // Before 3.0.11 the body was a bare TopicConfigSerializeWrapper.
    let p = processor(NamesrvConfig::default());
    let w = wrapper(&[("Old", 6, 2)], 1);
    let mut req = register_req(&RegisterBrokerBody::default(), 0, M, false);
    req.body = w.encode().into();
    req.ext_mut().insert("bodyCrc32", "0");
    assert_eq!(call(&p, req).code, response::SUCCESS);
    assert!(p.routes().pickup_topic_route_data("Old").is_some());
    // No body at all: registered, no topics.
    let mut req = register_req(&RegisterBrokerBody::default(), 1, S, false);
    req.body = bytes::Bytes::new();
    req.ext_mut().insert("bodyCrc32", "0");
    assert_eq!(call(&p, req).code, response::SUCCESS);
    assert_eq!(p.routes().broker_addrs("b").len(), 2);
}

#[test]
fn processor_errors_are_answered() {
    let p = processor(NamesrvConfig::default());
    // Missing required field: SYSTEM_ERROR naming it.
    let r = call(
        &p,
        RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 9),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(
        r.remark.as_deref().unwrap().contains("'topic'"),
        "{:?}",
        r.remark
    );
    // Ill-typed field.
    let mut q = RemotingCommand::request(request::UNREGISTER_BROKER, 9);
    for (k, v) in [
        ("brokerName", "b"),
        ("brokerAddr", "a"),
        ("clusterName", "c"),
        ("brokerId", "x"),
    ] {
        q.ext_mut().insert(k, v);
    }
    let r = call(&p, q);
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.as_deref().unwrap().contains("brokerId"));
    // 5.x codes without typed headers.
    let r = call(&p, RemotingCommand::request(request::BROKER_HEARTBEAT, 9));
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.as_deref().unwrap().contains("clusterName"));
    // Unknown code, binary header: answered, in binary.
    let mut u = RemotingCommand::request(4242, 10);
    u.serialize_type = SerializeType::RocketMq;
    let r = call(&p, u);
    assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        r.remark.as_deref(),
        Some(" request type 4242 not supported")
    );
    // A broker-side code sent to the name server.
    let r = call(&p, RemotingCommand::request(request::SEND_MESSAGE, 11));
    assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
}

#[test]
fn processor_kv_and_perm() {
    let p = processor(NamesrvConfig::default());
    let get = |ns: &str, k: &str| {
        RemotingCommand::request(request::GET_KV_CONFIG, 1).with_header(&GetKVConfigRequestHeader {
            namespace: ns.into(),
            key: k.into(),
        })
    };
    let r = call(&p, get("ns", "k"));
    assert_eq!(r.code, response::QUERY_NOT_FOUND);
    assert_eq!(
        r.remark.as_deref(),
        Some("No config item, Namespace: ns Key: k")
    );
    let mut list = RemotingCommand::request(request::GET_KVLIST_BY_NAMESPACE, 1);
    list.ext_mut().insert("namespace", "ns");
    assert_eq!(call(&p, list.clone()).code, response::QUERY_NOT_FOUND);
    p.kv().put("ns", "k", "v");
    let r = call(&p, get("ns", "k"));
    assert_eq!((r.code, r.ext("value")), (response::SUCCESS, Some("v")));
    let r = call(&p, list);
    assert_eq!(KVTable::decode(&r.body).unwrap().table["k"], "v");
    let mut del = RemotingCommand::request(request::DELETE_KV_CONFIG, 1);
    del.ext_mut().insert("namespace", "ns");
    del.ext_mut().insert("key", "k");
    assert_eq!(call(&p, del).code, response::SUCCESS);
    assert_eq!(call(&p, get("ns", "k")).code, response::QUERY_NOT_FOUND);

    p.routes()
        .register_broker_at(reg("C", "a", 0, M, &[("T", 6, 4)], 1), false, 0);
    let r = call(
        &p,
        RemotingCommand::request(request::WIPE_WRITE_PERM_OF_BROKER, 1).with_header(
            &WipeWritePermOfBrokerRequestHeader {
                broker_name: "a".into(),
            },
        ),
    );
    let h: WipeWritePermOfBrokerResponseHeader = r.read_header().unwrap();
    assert_eq!(h.wipe_topic_count, 1);
    let mut add = RemotingCommand::request(request::ADD_WRITE_PERM_OF_BROKER, 1);
    add.ext_mut().insert("brokerName", "a");
    assert_eq!(call(&p, add).ext("addTopicCount"), Some("1"));

    // QUERY_DATA_VERSION
    let q = |counter: i64| {
        RemotingCommand::request(request::QUERY_DATA_VERSION, 1)
            .with_header(&QueryDataVersionRequestHeader {
                broker_name: "a".into(),
                broker_addr: M.into(),
                cluster_name: "C".into(),
                broker_id: 0,
            })
            .with_body(wrapper(&[], counter).data_version.encode())
    };
    let r = call(&p, q(1));
    assert_eq!(r.ext("changed"), Some("false"));
    assert_eq!(
        DataVersion::decode(&r.body).unwrap(),
        wrapper(&[], 1).data_version
    );
    assert_eq!(call(&p, q(2)).ext("changed"), Some("true"));
    let mut empty = q(1);
    empty.body = bytes::Bytes::new();
    assert_eq!(call(&p, empty).code, response::SYSTEM_ERROR);

    // Topic lists, member group.
    let r = call(
        &p,
        RemotingCommand::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 1),
    );
    assert_eq!(topics(&TopicList::decode(&r.body).unwrap()), vec!["T"]);
    let mut g = RemotingCommand::request(request::GET_BROKER_MEMBER_GROUP, 1);
    g.ext_mut().insert("clusterName", "C");
    g.ext_mut().insert("brokerName", "a");
    let r = call(&p, g);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["brokerMemberGroup"]["brokerAddrs"]["0"], M);
}

#[test]
fn processor_namesrv_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("namesrv.properties");
    let p = NamesrvProcessor::new(
        NamesrvConfig {
            config_store_path: store.to_string_lossy().into_owned(),
            ..Default::default()
        },
        BTreeMap::from([("custom".to_string(), "1".to_string())]),
        Arc::new(RouteInfoManager::new()),
        Arc::new(KvConfigManager::in_memory()),
    );
    let r = call(&p, RemotingCommand::request(request::GET_NAMESRV_CONFIG, 1));
    let props = properties::parse_bytes(&r.body);
    assert_eq!(props["listenPort"], "9876");
    assert_eq!(props["orderMessageEnable"], "false");
    assert_eq!(props["custom"], "1");

    let update = |text: &str| {
        RemotingCommand::request(request::UPDATE_NAMESRV_CONFIG, 1)
            .with_body(text.as_bytes().to_vec())
    };
    let r = call(&p, update("kvConfigPath=/etc/passwd\n"));
    assert_eq!(r.code, response::NO_PERMISSION);
    let r = call(&p, update("orderMessageEnable=maybe\n"));
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("orderMessageEnable"));
    assert!(!p.config().order_message_enable, "nothing applied");
    let r = call(&p, update("orderMessageEnable=true\ncustom=2\nunknown=3\n"));
    assert_eq!(r.code, response::SUCCESS);
    assert!(p.config().order_message_enable);
    let props = properties::parse_bytes(
        &call(&p, RemotingCommand::request(request::GET_NAMESRV_CONFIG, 1)).body,
    );
    assert_eq!(props["orderMessageEnable"], "true");
    assert_eq!(props["custom"], "2");
    assert!(!props.contains_key("unknown"));
    let saved = properties::parse_bytes(&std::fs::read(&store).unwrap());
    assert_eq!(saved["orderMessageEnable"], "true");
}

#[test]
fn name_server_starts_and_stops() {
    rt::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let ns = NameServer::start(NamesrvConfig {
            listen_port: 0,
            bind_address: "127.0.0.1".into(),
            kv_config_path: dir.path().join("kv.json").to_string_lossy().into_owned(),
            scan_not_active_broker_interval: 100,
            ..Default::default()
        })
        .await
        .unwrap();
        assert_ne!(ns.local_addr().port(), 0);
        // The expiry task runs: a broker whose last registration is long past goes away.
        ns.route_info()
            .register_broker_at(reg("C", "a", 0, M, &[("T", 6, 4)], 1), false, 0);
        let mut gone = false;
        for _ in 0..100 {
            rt::sleep(std::time::Duration::from_millis(20)).await;
            if ns.route_info().pickup_topic_route_data("T").is_none() {
                gone = true;
                break;
            }
        }
        assert!(gone, "expired by the background task");
        ns.shutdown();
    });
    // A bad bind address is an error, not a panic.
    let r = rt::block_on(NameServer::start(NamesrvConfig {
        bind_address: "not an ip".into(),
        ..Default::default()
    }));
    assert!(r.is_err());
}
