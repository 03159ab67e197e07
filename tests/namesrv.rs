//! The name server over real sockets: raw frames through the codec, as clients send them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apogee::namesrv::{NameServer, NamesrvConfig};
use apogee::remoting::{ConnectionOptions, RejectAll, RemotingClient};
use apogee::rt::{self, TcpStream};
use apogee_codec::body::{
    ClusterInfo, DataVersion, KVTable, RegisterBrokerBody, TopicConfig,
    TopicConfigSerializeWrapper, TopicRouteData,
};
use apogee_codec::codes::{request, response, CURRENT_VERSION};
use apogee_codec::header::{
    GetKVConfigRequestHeader, GetRouteInfoRequestHeader, PutKVConfigRequestHeader,
    RegisterBrokerRequestHeader,
};
use apogee_codec::{FrameDecoder, RemotingCommand, SerializeType, DEFAULT_MAX_FRAME};
use bytes::BytesMut;
use futures::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(5);

struct Fixture {
    ns: NameServer,
    _dir: tempfile::TempDir,
    client: RemotingClient,
}

impl Fixture {
    async fn start() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ns = NameServer::start(NamesrvConfig {
            listen_port: 0,
            bind_address: "127.0.0.1".into(),
            kv_config_path: dir
                .path()
                .join("kvConfig.json")
                .to_string_lossy()
                .into_owned(),
            config_store_path: dir
                .path()
                .join("namesrv.properties")
                .to_string_lossy()
                .into_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
        Fixture {
            ns,
            _dir: dir,
            client: RemotingClient::new(Arc::new(RejectAll), ConnectionOptions::default()),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.ns.local_addr()
    }

    async fn call(&self, req: RemotingCommand) -> RemotingCommand {
        let resp = self.client.invoke(self.addr(), req, WAIT).await.unwrap();
        assert!(resp.is_response());
        assert_eq!(resp.version, CURRENT_VERSION);
        resp
    }

    fn stop(&self) {
        self.client.close_all();
        self.ns.shutdown();
    }
}

fn body(topics: &[(&str, i32, i32)], counter: i64) -> RegisterBrokerBody {
    let mut w = TopicConfigSerializeWrapper {
        data_version: DataVersion::new(counter, 1_700_000_000_000),
        ..Default::default()
    };
    for (name, perm, queues) in topics {
        let mut tc = TopicConfig::new(*name);
        tc.perm = *perm;
        tc.read_queue_nums = *queues;
        tc.write_queue_nums = *queues;
        w.topic_config_table.insert((*name).to_owned(), tc);
    }
    RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: w,
    }
}

fn register(
    name: &str,
    id: i64,
    addr: &str,
    b: &RegisterBrokerBody,
    compressed: bool,
) -> RemotingCommand {
    let bytes = b.encode_with(compressed);
    let crc = (crc32fast::hash(&bytes) & 0x7FFF_FFFF) as i32;
    RemotingCommand::request(request::REGISTER_BROKER, 0)
        .with_header(&RegisterBrokerRequestHeader {
            broker_name: name.into(),
            broker_addr: addr.into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: addr.replace(":10911", ":10912"),
            broker_id: id,
            compressed,
            body_crc32: crc,
            ..Default::default()
        })
        .with_body(bytes)
}

fn route(topic: &str) -> RemotingCommand {
    RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_header(
        &GetRouteInfoRequestHeader {
            topic: topic.into(),
            ..Default::default()
        },
    )
}

/// Read one whole frame from a raw socket (bounded wait); `None` when the peer closed.
async fn read_frame(s: &mut TcpStream, buf: &mut BytesMut) -> Option<RemotingCommand> {
    let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(frame) = dec.decode(buf).unwrap() {
            return Some(RemotingCommand::from_frame(frame).unwrap());
        }
        let n = rt::timeout(WAIT, s.read(&mut chunk))
            .await
            .expect("timed out waiting for a frame")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A frame whose header is given as raw bytes (to send exactly what another client sends).
fn raw_json_frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&(header.len() as u32).to_be_bytes());
    f.extend_from_slice(header);
    f.extend_from_slice(body);
    f
}

#[test]
fn register_then_route() {
    rt::block_on(async {
        let f = Fixture::start().await;
        // Broker a registers with a JSON body, broker b with the compressed form.
        let r = f
            .call(register(
                "a",
                0,
                "10.0.0.1:10911",
                &body(&[("TopicTest", 6, 4), ("TBW102", 7, 8)], 1),
                false,
            ))
            .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        let r = f
            .call(register(
                "b",
                0,
                "10.0.0.2:10911",
                &body(&[("TopicTest", 6, 8)], 1),
                true,
            ))
            .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        // A slave of a learns its master.
        let r = f
            .call(register("a", 1, "10.0.0.3:10911", &body(&[], 1), false))
            .await;
        assert_eq!(r.ext("masterAddr"), Some("10.0.0.1:10911"));
        assert_eq!(r.ext("haServerAddr"), Some("10.0.0.1:10912"));

        let r = f.call(route("TopicTest")).await;
        assert_eq!(r.code, response::SUCCESS);
        let rd = TopicRouteData::decode(&r.body).unwrap();
        assert_eq!(rd.queue_datas.len(), 2);
        assert_eq!(rd.broker_datas.len(), 2);
        let a = rd
            .broker_datas
            .iter()
            .find(|b| b.broker_name == "a")
            .unwrap();
        assert_eq!(a.master_addr(), Some("10.0.0.1:10911"));
        assert_eq!(a.broker_addrs[&1], "10.0.0.3:10911");
        let qb = rd
            .queue_datas
            .iter()
            .find(|q| q.broker_name == "b")
            .unwrap();
        assert_eq!((qb.write_queue_nums, qb.perm), (8, 6));
        // Standard JSON, even for an old client version.
        let mut old = route("TopicTest");
        old.version = 333;
        let r = f.call(old).await;
        assert!(std::str::from_utf8(&r.body)
            .unwrap()
            .contains(r#""brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.3:10911"}"#));

        let tbw = TopicRouteData::decode(&f.call(route("TBW102")).await.body).unwrap();
        assert_eq!(tbw.queue_datas[0].perm, 7);

        let r = f.call(route("NoSuchTopic")).await;
        assert_eq!(r.code, response::TOPIC_NOT_EXIST);
        assert!(r
            .remark
            .unwrap()
            .starts_with("No topic route info in name server for the topic: NoSuchTopic"));

        let r = f
            .call(RemotingCommand::request(
                request::GET_BROKER_CLUSTER_INFO,
                0,
            ))
            .await;
        let ci = ClusterInfo::decode(&r.body).unwrap();
        assert_eq!(ci.cluster_addr_table["DefaultCluster"].len(), 2);
        assert_eq!(ci.broker_addr_table["a"].broker_addrs.len(), 2);
        f.stop();
    });
}

#[test]
fn kv_config_round_trip() {
    rt::block_on(async {
        let f = Fixture::start().await;
        let put = RemotingCommand::request(request::PUT_KV_CONFIG, 0).with_header(
            &PutKVConfigRequestHeader {
                namespace: "ORDER_TOPIC_CONFIG".into(),
                key: "OrderTopic".into(),
                value: "a:4".into(),
            },
        );
        assert_eq!(f.call(put).await.code, response::SUCCESS);
        let get = || {
            RemotingCommand::request(request::GET_KV_CONFIG, 0).with_header(
                &GetKVConfigRequestHeader {
                    namespace: "ORDER_TOPIC_CONFIG".into(),
                    key: "OrderTopic".into(),
                },
            )
        };
        let r = f.call(get()).await;
        assert_eq!((r.code, r.ext("value")), (response::SUCCESS, Some("a:4")));
        let mut list = RemotingCommand::request(request::GET_KVLIST_BY_NAMESPACE, 0);
        list.ext_mut().insert("namespace", "ORDER_TOPIC_CONFIG");
        let r = f.call(list).await;
        assert_eq!(KVTable::decode(&r.body).unwrap().table["OrderTopic"], "a:4");
        // Persisted in Java's format.
        let path = f.ns.config().kv_config_path;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"OrderTopic":"a:4"}}}"#
        );
        // Registering brokers get the namespace back.
        let r = f
            .call(register("a", 0, "10.0.0.1:10911", &body(&[], 1), false))
            .await;
        assert_eq!(KVTable::decode(&r.body).unwrap().table["OrderTopic"], "a:4");

        let mut del = RemotingCommand::request(request::DELETE_KV_CONFIG, 0);
        del.ext_mut().insert("namespace", "ORDER_TOPIC_CONFIG");
        del.ext_mut().insert("key", "OrderTopic");
        assert_eq!(f.call(del).await.code, response::SUCCESS);
        let r = f.call(get()).await;
        assert_eq!(r.code, response::QUERY_NOT_FOUND);
        f.stop();
    });
}

#[test]
fn unknown_code_and_bad_headers_are_answered() {
    rt::block_on(async {
        let f = Fixture::start().await;
        let r = f.call(RemotingCommand::request(777, 0)).await;
        assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
        assert_eq!(r.remark.as_deref(), Some(" request type 777 not supported"));
        // A missing required field: SYSTEM_ERROR naming it, and the connection lives on.
        let mut bad = register("a", 0, "10.0.0.1:10911", &body(&[], 1), false);
        bad.ext_fields.as_mut().unwrap().remove("brokerName");
        let r = f.call(bad).await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert!(r.remark.unwrap().contains("brokerName"));
        let r = f
            .call(RemotingCommand::request(request::GET_NAMESRV_CONFIG, 0))
            .await;
        assert!(std::str::from_utf8(&r.body)
            .unwrap()
            .contains("orderMessageEnable=false\n"));
        f.stop();
    });
}

#[test]
fn binary_and_cpp_style_requests() {
    rt::block_on(async {
        let f = Fixture::start().await;
        f.call(register(
            "a",
            0,
            "10.0.0.1:10911",
            &body(&[("T", 6, 4)], 1),
            false,
        ))
        .await;
        let mut s = rt::connect(f.addr(), WAIT).await.unwrap();
        let mut buf = BytesMut::new();

        // ROCKETMQ binary header in, binary header out.
        let mut req = route("T");
        req.serialize_type = SerializeType::RocketMq;
        req.opaque = 41;
        s.write_all(&req.to_bytes().unwrap()).await.unwrap();
        let resp = read_frame(&mut s, &mut buf).await.unwrap();
        assert_eq!(resp.serialize_type, SerializeType::RocketMq);
        assert_eq!((resp.code, resp.opaque), (response::SUCCESS, 41));
        assert!(resp.is_response());
        assert_eq!(
            TopicRouteData::decode(&resp.body)
                .unwrap()
                .queue_datas
                .len(),
            1
        );

        // What the C++ client sends: CPP language, version 333, empty remark, signature keys,
        // numbers in extFields.
        let header = br#"{"code":105,"language":"CPP","version":333,"opaque":42,"flag":0,"remark":"","extFields":{"Signature":"","AccessKey":"","OnsChannel":"ALIYUN","topic":"T","n":4}}"#;
        s.write_all(&raw_json_frame(header, b"")).await.unwrap();
        let resp = read_frame(&mut s, &mut buf).await.unwrap();
        assert_eq!(resp.serialize_type, SerializeType::Json);
        assert_eq!((resp.code, resp.opaque), (response::SUCCESS, 42));
        assert_eq!(
            TopicRouteData::decode(&resp.body)
                .unwrap()
                .queue_datas
                .len(),
            1
        );

        // An unknown topic from the same client: answered, not dropped.
        let header = br#"{"code":105,"language":"CPP","version":333,"opaque":43,"flag":0,"extFields":{"Signature":"x","AccessKey":"","topic":"Missing"}}"#;
        s.write_all(&raw_json_frame(header, b"")).await.unwrap();
        let resp = read_frame(&mut s, &mut buf).await.unwrap();
        assert_eq!((resp.code, resp.opaque), (response::TOPIC_NOT_EXIST, 43));
        f.stop();
    });
}

#[test]
fn garbage_closes_only_that_connection() {
    rt::block_on(async {
        let f = Fixture::start().await;
        let mut s = rt::connect(f.addr(), WAIT).await.unwrap();
        // A length word announcing 4 GiB: refused, connection closed.
        s.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4])
            .await
            .unwrap();
        let mut buf = BytesMut::new();
        assert!(read_frame(&mut s, &mut buf).await.is_none(), "closed");
        // A well-framed but unparsable JSON header: error response (opaque found), then close.
        let mut s = rt::connect(f.addr(), WAIT).await.unwrap();
        s.write_all(&raw_json_frame(br#"{"code":"x","opaque":77}"#, b""))
            .await
            .unwrap();
        let mut buf = BytesMut::new();
        let resp = read_frame(&mut s, &mut buf).await.unwrap();
        assert_eq!((resp.code, resp.opaque), (response::SYSTEM_ERROR, 77));
        assert!(read_frame(&mut s, &mut buf).await.is_none(), "closed");
        // Everyone else is unaffected.
        let r = f.call(route("T")).await;
        assert_eq!(r.code, response::TOPIC_NOT_EXIST);
        f.stop();
    });
}

#[test]
fn broker_connection_close_and_oneway_registration() {
    rt::block_on(async {
        let f = Fixture::start().await;
        // A broker registers one-way (as after auto-creating a topic): no answer, but done.
        let mut s = rt::connect(f.addr(), WAIT).await.unwrap();
        let mut req = register("a", 0, "10.0.0.1:10911", &body(&[("Auto", 6, 4)], 1), false);
        req.opaque = 5;
        req.set_oneway(true);
        s.write_all(&req.to_bytes().unwrap()).await.unwrap();
        let mut found = false;
        for _ in 0..100 {
            if f.call(route("Auto")).await.code == response::SUCCESS {
                found = true;
                break;
            }
            rt::sleep(Duration::from_millis(20)).await;
        }
        assert!(found, "one-way registration applied");
        // Then the broker's connection goes away: its routes go with it at once.
        drop(s);
        let mut gone = false;
        for _ in 0..100 {
            if f.call(route("Auto")).await.code == response::TOPIC_NOT_EXIST {
                gone = true;
                break;
            }
            rt::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "route removed when the broker connection closed");
        let ci = ClusterInfo::decode(
            &f.call(RemotingCommand::request(
                request::GET_BROKER_CLUSTER_INFO,
                0,
            ))
            .await
            .body,
        )
        .unwrap();
        assert!(ci.broker_addr_table.is_empty());
        f.stop();
    });
}
