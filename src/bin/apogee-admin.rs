//! `apogee-admin`: the everyday administration commands, spoken over the remoting protocol to
//! any RocketMQ 4.x name server / broker (Apogee's or Java's).
//!
//! ```text
//! apogee-admin -n NAMESRV topicList
//! apogee-admin -n NAMESRV topicRoute -t TOPIC
//! apogee-admin -b BROKER  updateTopic -t TOPIC [-r READ] [-w WRITE] [-p PERM] [-o true|false]
//! apogee-admin -n NAMESRV consumerProgress -g GROUP [-t TOPIC]
//! apogee-admin -n NAMESRV resetOffsetByTime -g GROUP -t TOPIC -s TIMESTAMP_MS|now [-f true|false]
//! apogee-admin -n NAMESRV queryMsgById -i OFFSET_MSG_ID
//! apogee-admin -b BROKER  brokerStatus
//! ```
//!
//! With `-n`, commands that talk to brokers find them through the topic's route (or every
//! broker of the cluster).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::exit;
use std::time::Duration;

use apogee::remoting::{ConnectionOptions, RejectAll, RemotingClient};
use apogee_codec::body::{ClusterInfo, ConsumeStats, KVTable, TopicList, TopicRouteData};
use apogee_codec::codes::{request, response};
use apogee_codec::message::{decode_offset_msg_id, decode_record, MessageProperties};
use apogee_codec::RemotingCommand;

const USAGE: &str = "usage: apogee-admin [-n namesrv] [-b broker] <command> [options]
commands:
  topicList                               topics known to the name server
  topicRoute -t TOPIC                     the topic's route
  updateTopic -t TOPIC [-r N] [-w N] [-p PERM] [-o BOOL]   create or update a topic (on -b, or on every broker of the cluster)
  consumerProgress -g GROUP [-t TOPIC]    per-queue broker/consumer offsets and lag
  resetOffsetByTime -g GROUP -t TOPIC -s MS|now [-f BOOL]  move a group's offsets to a time
  queryMsgById -i MSGID                   show the message with this offset message id
  brokerStatus                            the broker's runtime info (needs -b)";

struct Opts {
    namesrv: Option<SocketAddr>,
    broker: Option<SocketAddr>,
    command: String,
    flags: BTreeMap<String, String>,
}

fn parse() -> Result<Opts, String> {
    let mut namesrv = None;
    let mut broker = None;
    let mut command = None;
    let mut flags = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let addr = |v: Option<String>| -> Result<SocketAddr, String> {
            let v = v.ok_or_else(|| format!("{a} needs an address"))?;
            let v = v.split(';').next().unwrap_or("").trim().to_owned();
            v.parse()
                .map_err(|_| format!("{v}: not an ip:port address"))
        };
        match a.as_str() {
            "-n" => namesrv = Some(addr(it.next())?),
            "-b" => broker = Some(addr(it.next())?),
            "-h" | "--help" => return Err(USAGE.into()),
            f if f.starts_with('-') => {
                let v = it.next().ok_or_else(|| format!("{f} needs a value"))?;
                flags.insert(f.trim_start_matches('-').to_owned(), v);
            }
            c => {
                if command.is_some() {
                    return Err(format!("unexpected argument {c}\n{USAGE}"));
                }
                command = Some(c.to_owned());
            }
        }
    }
    let command = command.ok_or_else(|| USAGE.to_owned())?;
    if namesrv.is_none() && broker.is_none() {
        if let Ok(ns) = std::env::var("NAMESRV_ADDR") {
            namesrv = ns.split(';').next().and_then(|a| a.trim().parse().ok());
        }
    }
    Ok(Opts {
        namesrv,
        broker,
        command,
        flags,
    })
}

struct Admin {
    client: RemotingClient,
    opts: Opts,
}

impl Admin {
    fn call(&self, addr: SocketAddr, cmd: RemotingCommand) -> Result<RemotingCommand, String> {
        apogee::rt::block_on(self.client.invoke(addr, cmd, Duration::from_secs(10)))
            .map_err(|e| format!("{addr}: {e}"))
    }

    fn flag(&self, k: &str) -> Result<&str, String> {
        self.opts
            .flags
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("-{k} is required"))
    }

    fn namesrv(&self) -> Result<SocketAddr, String> {
        self.opts
            .namesrv
            .ok_or_else(|| "this command needs -n NAMESRV (or NAMESRV_ADDR)".into())
    }

    fn route(&self, topic: &str) -> Result<TopicRouteData, String> {
        let mut req = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0);
        req.ext_mut().insert("topic", topic);
        let r = self.call(self.namesrv()?, req)?;
        ok(&r)?;
        TopicRouteData::decode(&r.body).map_err(|e| e.to_string())
    }

    /// Master addresses serving `topic` (from -b, or the route).
    fn masters(&self, topic: Option<&str>) -> Result<Vec<SocketAddr>, String> {
        if let Some(b) = self.opts.broker {
            return Ok(vec![b]);
        }
        let datas = match topic {
            Some(t) => self.route(t)?.broker_datas,
            None => {
                let r = self.call(
                    self.namesrv()?,
                    RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO, 0),
                )?;
                ok(&r)?;
                let ci = ClusterInfo::decode(&r.body).map_err(|e| e.to_string())?;
                ci.broker_addr_table.into_values().collect()
            }
        };
        Ok(datas
            .iter()
            .filter_map(|d| d.master_addr())
            .filter_map(|a| a.parse().ok())
            .collect())
    }

    fn run(&self) -> Result<(), String> {
        match self.opts.command.as_str() {
            "topicList" => {
                let r = self.call(
                    self.namesrv()?,
                    RemotingCommand::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 0),
                )?;
                ok(&r)?;
                let list = TopicList::decode(&r.body).map_err(|e| e.to_string())?;
                for t in list.topic_list {
                    println!("{t}");
                }
            }
            "topicRoute" => {
                let route = self.route(self.flag("t")?)?;
                println!("{}", String::from_utf8_lossy(&route.encode()));
            }
            "updateTopic" => {
                let topic = self.flag("t")?;
                let get = |k: &str, d: &str| self.opts.flags.get(k).cloned().unwrap_or(d.into());
                for addr in self.masters(None)? {
                    let mut req = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC, 0);
                    let e = req.ext_mut();
                    e.insert("topic", topic);
                    e.insert("defaultTopic", "TBW102");
                    e.insert("readQueueNums", get("r", "8"));
                    e.insert("writeQueueNums", get("w", "8"));
                    e.insert("perm", get("p", "6"));
                    e.insert("topicFilterType", "SINGLE_TAG");
                    e.insert("topicSysFlag", "0");
                    e.insert("order", get("o", "false"));
                    let r = self.call(addr, req)?;
                    ok(&r)?;
                    println!("create topic to {addr} success.");
                }
            }
            "consumerProgress" => {
                let group = self.flag("g")?;
                let topic = self.opts.flags.get("t").map(String::as_str);
                let retry = format!("%RETRY%{group}");
                let masters = self.masters(Some(topic.unwrap_or(&retry)))?;
                println!(
                    "{:<32} {:<20} {:>5} {:>14} {:>14} {:>10}",
                    "#Topic", "#Broker", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff"
                );
                let mut total = 0i64;
                for addr in masters {
                    let mut req = RemotingCommand::request(request::GET_CONSUME_STATS, 0);
                    req.ext_mut().insert("consumerGroup", group);
                    if let Some(t) = topic {
                        req.ext_mut().insert("topic", t);
                    }
                    let r = self.call(addr, req)?;
                    ok(&r)?;
                    let stats = ConsumeStats::decode(&r.body).map_err(|e| e.to_string())?;
                    for (mq, w) in &stats.offset_table {
                        let diff = w.broker_offset - w.consumer_offset;
                        total += diff;
                        println!(
                            "{:<32} {:<20} {:>5} {:>14} {:>14} {:>10}",
                            mq.topic,
                            mq.broker_name,
                            mq.queue_id,
                            w.broker_offset,
                            w.consumer_offset,
                            diff
                        );
                    }
                }
                println!("\nDiff Total: {total}");
            }
            "resetOffsetByTime" => {
                let group = self.flag("g")?;
                let topic = self.flag("t")?;
                let ts = match self.flag("s")? {
                    "now" => apogee::store::sys::now_ms(),
                    s => s
                        .parse::<i64>()
                        .map_err(|_| format!("-s {s}: a timestamp in ms or `now`"))?,
                };
                let force = self
                    .opts
                    .flags
                    .get("f")
                    .map(String::as_str)
                    .unwrap_or("true");
                for addr in self.masters(Some(topic))? {
                    let mut req =
                        RemotingCommand::request(request::INVOKE_BROKER_TO_RESET_OFFSET, 0);
                    let e = req.ext_mut();
                    e.insert("topic", topic);
                    e.insert("group", group);
                    e.insert("timestamp", ts.to_string());
                    e.insert("isForce", force);
                    let r = self.call(addr, req)?;
                    ok(&r)?;
                    println!("reset offsets of {group} on {topic} at {addr}: done");
                    if !r.body.is_empty() {
                        println!("{}", String::from_utf8_lossy(&r.body));
                    }
                }
            }
            "queryMsgById" => {
                let id = self.flag("i")?;
                let mid = decode_offset_msg_id(id).map_err(|e| e.to_string())?;
                let mut req = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID, 0);
                req.ext_mut().insert("offset", mid.offset.to_string());
                let r = self.call(mid.store_host, req)?;
                ok(&r)?;
                let (rec, _) = decode_record(&r.body).map_err(|e| e.to_string())?;
                let props = MessageProperties::parse(rec.properties);
                println!("OffsetID:           {id}");
                println!("Topic:              {}", String::from_utf8_lossy(rec.topic));
                println!("Tags:               {}", props.tags().unwrap_or(""));
                println!("Keys:               {}", props.get("KEYS").unwrap_or(""));
                println!("Queue ID:           {}", rec.queue_id);
                println!("Queue Offset:       {}", rec.queue_offset);
                println!("CommitLog Offset:   {}", rec.physical_offset);
                println!("Reconsume Times:    {}", rec.reconsume_times);
                println!("Born Timestamp:     {}", rec.born_timestamp);
                println!("Store Timestamp:    {}", rec.store_timestamp);
                println!("Born Host:          {}", rec.born_host);
                println!("Store Host:         {}", rec.store_host);
                println!("System Flag:        {}", rec.sys_flag);
                println!("Properties:         {:?}", props.iter().collect::<Vec<_>>());
                println!("Body Length:        {}", rec.body.len());
            }
            "brokerStatus" => {
                let addr = self
                    .opts
                    .broker
                    .ok_or_else(|| "brokerStatus needs -b BROKER".to_owned())?;
                let r = self.call(
                    addr,
                    RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO, 0),
                )?;
                ok(&r)?;
                let kv = KVTable::decode(&r.body).map_err(|e| e.to_string())?;
                for (k, v) in kv.table {
                    println!("{k:<40}: {v}");
                }
            }
            other => return Err(format!("unknown command {other}\n{USAGE}")),
        }
        Ok(())
    }
}

fn ok(r: &RemotingCommand) -> Result<(), String> {
    if r.code == response::SUCCESS {
        Ok(())
    } else {
        Err(format!(
            "error {} ({}): {}",
            r.code,
            response::name(r.code).unwrap_or("?"),
            r.remark.as_deref().unwrap_or("")
        ))
    }
}

fn main() {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            exit(2);
        }
    };
    let admin = Admin {
        client: RemotingClient::new(std::sync::Arc::new(RejectAll), ConnectionOptions::default()),
        opts,
    };
    if let Err(e) = admin.run() {
        eprintln!("apogee-admin: {e}");
        exit(1);
    }
}
