//! A forward HTTP proxy on 127.0.0.1 for the per-provider `proxy` setting: it takes
//! absolute-form requests (`GET http://127.0.0.1:PORT/path HTTP/1.1`), records each one, and
//! forwards it to 127.0.0.1 at the target's port (never anywhere else, whatever the target's
//! host), copying the answer back as it arrives. One request per connection; anything that is
//! not absolute-form (a CONNECT, say) gets a 501.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::{Recorded, read_request};

pub struct FakeProxy {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeProxy {
    pub async fn start() -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = forward(socket, log).await;
                });
            }
        });
        FakeProxy { addr, requests }
    }

    /// `http://127.0.0.1:PORT`, as written in the configuration.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request the proxy was asked to forward; `target` is the absolute URL.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn forward(mut client: TcpStream, log: Arc<Mutex<Vec<Recorded>>>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client).await else {
        return Ok(());
    };
    log.lock().unwrap().push(request.clone());
    // `http://host:port/path?query` -> the port and `/path?query`.
    let split = request.target.strip_prefix("http://").map(|rest| {
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let port = match authority.rsplit_once(':') {
            Some((_, port)) => port.parse::<u16>().ok(),
            None => Some(80),
        };
        (port, path.to_string())
    });
    let Some((Some(port), path)) = split else {
        client
            .write_all(
                b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await?;
        return client.shutdown().await;
    };
    let mut head = format!("{} {path} HTTP/1.1\r\n", request.method);
    for (name, value) in &request.headers {
        if !name.starts_with("proxy-") && name != "connection" {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("connection: close\r\n\r\n");
    let mut upstream = TcpStream::connect(("127.0.0.1", port)).await?;
    upstream.write_all(head.as_bytes()).await?;
    upstream.write_all(&request.body).await?;
    tokio::io::copy(&mut upstream, &mut client).await?;
    client.shutdown().await
}
