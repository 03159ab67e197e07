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
