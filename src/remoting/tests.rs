use super::*;
use crate::rt;
use apogee_codec::codes::response;
use apogee_codec::RemotingCommand;
use futures::future::BoxFuture;
use futures::{AsyncReadExt, AsyncWriteExt};
use std::sync::Arc;
use std::time::Duration;

/// Echoes the request's body and code; code 999 panics; code 998 never answers quickly.
struct Echo;

impl Handler for Echo {
    fn handle(
        self: Arc<Self>,
        _c: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            match req.code {
                999 => panic!("boom"),
                998 => {
                    rt::sleep(Duration::from_millis(300)).await;
                    RemotingCommand::success_to(&req).into()
                }
                _ => RemotingCommand::success_to(&req)
                    .with_body(req.body.clone())
                    .into(),
            }
        })
    }
}

fn local() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn request_response_oneway_and_panics() {
    rt::block_on(async {
        let server = serve(
            local(),
            Arc::new(Echo),
            ConnectionOptions::default(),
            "test",
        )
        .await
        .unwrap();
        let client = RemotingClient::new(Arc::new(RejectAll), ConnectionOptions::default());
        let addr = server.local_addr();
        // Many requests in flight on one connection, answered out of order.
        let slow = client.invoke(
            addr,
            RemotingCommand::request(998, 0),
            Duration::from_secs(3),
        );
        let fast = async {
            for i in 0..100u32 {
                let r = client
                    .invoke(
                        addr,
                        RemotingCommand::request(1, 0).with_body(i.to_be_bytes().to_vec()),
                        Duration::from_secs(3),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.code, response::SUCCESS);
                assert_eq!(&r.body[..], &i.to_be_bytes());
            }
        };
        let (s, ()) = futures::join!(slow, fast);
        assert_eq!(s.unwrap().code, response::SUCCESS);
        // A panicking handler answers SYSTEM_ERROR and the connection lives on.
        let r = client
            .invoke(
                addr,
                RemotingCommand::request(999, 0),
                Duration::from_secs(3),
            )
            .await
            .unwrap();
        assert_eq!(r.code, response::SYSTEM_ERROR);
        let r = client
            .invoke(addr, RemotingCommand::request(1, 0), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.code, response::SUCCESS);
        client
            .invoke_oneway(addr, RemotingCommand::request(1, 0))
            .await
            .unwrap();
        server.stop();
    });
}

#[test]
fn garbage_closes_only_that_connection() {
    rt::block_on(async {
        let server = serve(
            local(),
            Arc::new(Echo),
            ConnectionOptions::default(),
            "test",
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        let client = RemotingClient::new(Arc::new(RejectAll), ConnectionOptions::default());
        // A huge length: refused before buffering, connection closed.
        let mut s = rt::connect(addr, Duration::from_secs(1)).await.unwrap();
        s.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
            .await
            .unwrap();
        let mut b = [0u8; 16];
        let n = rt::timeout(Duration::from_secs(3), s.read(&mut b))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "closed");
        // Bad JSON with a findable opaque: an error response, then close.
        let mut s = rt::connect(addr, Duration::from_secs(1)).await.unwrap();
        let header = br#"{"code":"x","opaque":77}"#;
        let mut f = Vec::new();
        f.extend_from_slice(&((4 + header.len()) as u32).to_be_bytes());
        f.extend_from_slice(&(header.len() as u32).to_be_bytes());
        f.extend_from_slice(header);
        s.write_all(&f).await.unwrap();
        let mut all = Vec::new();
        let _ = rt::timeout(Duration::from_secs(3), s.read_to_end(&mut all)).await;
        let frame = apogee_codec::frame::parse_complete_frame(&all, 1 << 20).unwrap();
        let resp = RemotingCommand::from_frame(frame).unwrap();
        assert_eq!((resp.code, resp.opaque), (response::SYSTEM_ERROR, 77));
        // Other connections are unaffected.
        let r = client
            .invoke(addr, RemotingCommand::request(1, 0), Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(r.code, response::SUCCESS);
        server.stop();
    });
}

/// Echo, except that code 997 waits until a code-996 request has been handled.
struct Gated {
    gate: (async_channel::Sender<()>, async_channel::Receiver<()>),
}

impl Handler for Gated {
    fn handle(
        self: Arc<Self>,
        c: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            match req.code {
                997 => {
                    let _ = self.gate.1.recv().await;
                    RemotingCommand::success_to(&req).into()
                }
                996 => {
                    let _ = self.gate.0.try_send(());
                    RemotingCommand::success_to(&req).into()
                }
                _ => Arc::new(Echo).handle(c, req).await,
            }
        })
    }
}

/// Many requests in one write, a waiting one and a panicking one among them: every request
/// gets exactly one answer (inline replies batched, the waiting one from its own task, the
/// panic as SYSTEM_ERROR), and the waiting request does not hold up the ones behind it (it
/// waits for the last one, so a blocked reader would never answer).
#[test]
fn pipelined_batch_gets_one_answer_per_request() {
    rt::block_on(async {
        let server = serve(
            local(),
            Arc::new(Gated {
                gate: async_channel::bounded(1),
            }),
            ConnectionOptions::default(),
            "test",
        )
        .await
        .unwrap();
        let mut s = rt::connect(server.local_addr(), Duration::from_secs(1))
            .await
            .unwrap();
        let mut all = bytes::BytesMut::new();
        for opaque in 1..=300 {
            let code = match opaque {
                100 => 997,
                200 => 999,
                300 => 996,
                _ => 1,
            };
            RemotingCommand::request(code, opaque)
                .with_body(opaque.to_be_bytes().to_vec())
                .encode(&mut all)
                .unwrap();
        }
        s.write_all(&all).await.unwrap();
        let mut decoder = apogee_codec::frame::FrameDecoder::new(1 << 20);
        let mut buf = bytes::BytesMut::new();
        let mut seen = std::collections::BTreeMap::new();
        let mut chunk = [0u8; 8192];
        while seen.len() < 300 {
            let n = rt::timeout(Duration::from_secs(10), s.read(&mut chunk))
                .await
                .expect("all answers within 10 s")
                .unwrap();
            assert!(n > 0, "connection closed after {} answers", seen.len());
            buf.extend_from_slice(&chunk[..n]);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                let r = RemotingCommand::from_frame(frame).unwrap();
                assert!(seen.insert(r.opaque, r).is_none(), "one answer per request");
            }
        }
        for (opaque, r) in &seen {
            match opaque {
                200 => assert_eq!(r.code, response::SYSTEM_ERROR),
                100 | 300 => assert_eq!(r.code, response::SUCCESS),
                _ => {
                    assert_eq!(r.code, response::SUCCESS);
                    assert_eq!(&r.body[..], &opaque.to_be_bytes());
                }
            }
        }
        server.stop();
    });
}
