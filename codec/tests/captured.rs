//! Frames captured on the wire between real clients and Apogee (`compat-tests/run --capture`),
//! one file per frame under `tests/captured/<client>/`, named
//! `<server>-c<conn>-<seq>-<c2s|s2c>-<req|resp>-<code>-<json|rocketmq>.bin`.
//!
//! Every frame must decode, with the code, direction and serialization its name records.
//! Frames the servers wrote (`s2c`) are re-encoded byte-identical: the codec is what wrote
//! them. Frames the clients wrote (`c2s`) are not byte-identical in general (each client orders
//! and types its JSON header fields its own way), so they are re-encoded and decoded again to
//! the same command, and the requests the broker relies on are checked field by field: send
//! headers and message properties, pull headers, heartbeat bodies, route lookups; route and
//! cluster answers decode to their bodies.
use std::fs;
use std::path::{Path, PathBuf};

use apogee_codec::body::{ClusterInfo, HeartbeatData, TopicRouteData};
use apogee_codec::frame::{parse_complete_frame, DEFAULT_MAX_FRAME};
use apogee_codec::header::{
    decode_send_request, GetRouteInfoRequestHeader, PullMessageRequestHeader,
};
use apogee_codec::{CommandHeader, RemotingCommand, SerializeType};

struct Captured {
    path: PathBuf,
    client: String,
    to_server: bool,
    response: bool,
    code: i32,
    serialization: SerializeType,
    bytes: Vec<u8>,
}

fn captured() -> Vec<Captured> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captured");
    let mut out = Vec::new();
    let mut clients: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    clients.sort();
    for dir in clients.into_iter().filter(|p| p.is_dir()) {
        let client = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let parts: Vec<&str> = name.split('-').collect();
            let n = parts.len();
            assert!(n >= 7, "unexpected file name {name}");
            out.push(Captured {
                to_server: parts[n - 4] == "c2s",
                response: parts[n - 3] == "resp",
                code: parts[n - 2].parse().unwrap(),
                serialization: match parts[n - 1] {
                    "json" => SerializeType::Json,
                    "rocketmq" => SerializeType::RocketMq,
                    other => panic!("serialization {other} in {name}"),
                },
                bytes: fs::read(&path).unwrap(),
                client: client.clone(),
                path,
            });
        }
    }
    out
}

fn decode(c: &Captured) -> RemotingCommand {
    let frame = parse_complete_frame(&c.bytes, DEFAULT_MAX_FRAME)
        .unwrap_or_else(|e| panic!("{}: {e:?}", c.path.display()));
    RemotingCommand::from_frame(frame).unwrap_or_else(|e| panic!("{}: {e:?}", c.path.display()))
}

#[test]
fn every_client_is_represented() {
    let all = captured();
    let mut clients: Vec<&str> = all.iter().map(|c| c.client.as_str()).collect();
    clients.dedup();
    assert!(clients.len() >= 5, "captured clients: {clients:?}");
    for client in clients {
        let of = |to_server: bool| {
            all.iter()
                .filter(|c| c.client == client && c.to_server == to_server)
                .count()
        };
        assert!(
            of(true) > 0 && of(false) > 0,
            "{client}: frames in one direction only"
        );
    }
}

#[test]
fn every_frame_decodes_as_named() {
    for c in captured() {
        let cmd = decode(&c);
        let at = c.path.display();
        assert_eq!(cmd.code, c.code, "{at}");
        assert_eq!(cmd.is_response(), c.response, "{at}");
        assert_eq!(cmd.serialize_type, c.serialization, "{at}");
        let again = RemotingCommand::from_frame(
            parse_complete_frame(&cmd.to_bytes().unwrap(), DEFAULT_MAX_FRAME).unwrap(),
        )
        .unwrap();
        assert_eq!(again, cmd, "{at}: re-encoded command decodes differently");
    }
}

#[test]
fn server_frames_reencode_byte_identical() {
    let mut n = 0;
    for c in captured().iter().filter(|c| !c.to_server) {
        let cmd = decode(c);
        assert_eq!(
            cmd.to_bytes().unwrap().as_ref(),
            &c.bytes[..],
            "{}",
            c.path.display()
        );
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn client_requests_carry_what_the_broker_reads() {
    let mut seen = std::collections::BTreeSet::new();
    for c in captured().iter().filter(|c| c.to_server && !c.response) {
        let cmd = decode(c);
        let at = c.path.display();
        let fields = cmd.ext_fields.clone().unwrap_or_default();
        match c.code {
            // SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE
            10 | 310 | 320 => {
                let h =
                    decode_send_request(c.code, &fields).unwrap_or_else(|e| panic!("{at}: {e:?}"));
                assert!(!h.topic.is_empty() && !h.producer_group.is_empty(), "{at}");
                assert!(!cmd.body.is_empty(), "{at}: send without a body");
                seen.insert((c.client.clone(), "send"));
            }
            // PULL_MESSAGE
            11 => {
                let h = PullMessageRequestHeader::read_fields(&fields)
                    .unwrap_or_else(|e| panic!("{at}: {e:?}"));
                assert!(!h.consumer_group.is_empty() && !h.topic.is_empty(), "{at}");
                seen.insert((c.client.clone(), "pull"));
            }
            // HEART_BEAT
            34 => {
                let hb = HeartbeatData::decode(&cmd.body).unwrap_or_else(|e| panic!("{at}: {e:?}"));
                assert!(!hb.client_id.is_empty(), "{at}");
                seen.insert((c.client.clone(), "heartbeat"));
            }
            // GET_ROUTEINFO_BY_TOPIC
            105 => {
                let h = GetRouteInfoRequestHeader::read_fields(&fields)
                    .unwrap_or_else(|e| panic!("{at}: {e:?}"));
                assert!(!h.topic.is_empty(), "{at}");
                seen.insert((c.client.clone(), "route"));
            }
            _ => {}
        }
    }
    assert!(
        seen.iter().filter(|(_, what)| *what == "send").count() >= 5,
        "{seen:?}"
    );
    assert!(
        seen.iter().filter(|(_, what)| *what == "heartbeat").count() >= 5,
        "{seen:?}"
    );
}

#[test]
fn route_and_cluster_answers_decode() {
    let all = captured();
    let mut n = 0;
    for c in all
        .iter()
        .filter(|c| !c.to_server && c.response && c.code == 0)
    {
        let cmd = decode(c);
        // Find the request this answers: same connection, same opaque.
        let conn = c
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .split('-')
            .take(2)
            .collect::<Vec<_>>()
            .join("-");
        let req = all
            .iter()
            .filter(|r| r.to_server && !r.response && r.client == c.client)
            .find(|r| {
                r.path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&conn)
                    && decode(r).opaque == cmd.opaque
            });
        let Some(req) = req else { continue };
        match req.code {
            105 => {
                let route = TopicRouteData::decode(&cmd.body)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", c.path.display()));
                assert!(
                    !route.broker_datas.is_empty() && !route.queue_datas.is_empty(),
                    "{}",
                    c.path.display()
                );
                n += 1;
            }
            106 => {
                let info = ClusterInfo::decode(&cmd.body)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", c.path.display()));
                assert!(!info.broker_addr_table.is_empty(), "{}", c.path.display());
                n += 1;
            }
            _ => {}
        }
    }
    assert!(n > 0, "no route or cluster answer captured");
}
