//! A minimal HTTP/1.1 server for `GET /metrics`, on the capture's tokio
//! runtime. Hand-written on purpose: one read-only endpoint does not
//! justify an HTTP stack in a tool that runs as root on production
//! partitions. Each connection gets one response and is closed; requests
//! are capped at [`MAX_REQUEST`] bytes and [`READ_TIMEOUT`], and at most
//! [`MAX_CONNECTIONS`] are served at once, so a slow or hostile client
//! cannot hold memory or the capture.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{exposition, Metrics};

/// Largest request head accepted.
pub const MAX_REQUEST: usize = 8192;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 16;

/// A running server (the accept task is aborted on drop).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The address it listens on (the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` (`HOST:PORT`, e.g. `127.0.0.1:9464`, `[::]:9464`) and
/// serves `metrics` from a task of the current runtime. Binding errors are
/// reported here, before the capture starts.
pub async fn start(addr: &str, metrics: Arc<Metrics>) -> anyhow::Result<Server> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics {addr}: cannot listen: {e}"))?;
    let local = listener.local_addr()?;
    let busy = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    log::warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                busy.fetch_sub(1, Ordering::AcqRel);
                drop(stream);
                continue;
            }
            let metrics = Arc::clone(&metrics);
            let busy = Arc::clone(&busy);
            tokio::spawn(async move {
                if let Err(e) = serve(stream, &metrics).await {
                    log::debug!("metrics: connection: {e}");
                }
                busy.fetch_sub(1, Ordering::AcqRel);
            });
        }
    });
    Ok(Server { addr: local, task })
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET` (or `HEAD`) of a path.
    Get {
        /// The path without the query string.
        path: String,
        /// HEAD: no body.
        head: bool,
    },
    /// Another method.
    OtherMethod,
    /// Not HTTP.
    Malformed,
}

/// Parses the request line of a head (pure).
pub fn parse_request(head: &[u8]) -> Request {
    let Some(line) = head.split(|&b| b == b'\n').next() else {
        return Request::Malformed;
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return Request::Malformed;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Request::Malformed;
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Request::Malformed;
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    match method {
        "GET" => Request::Get { path, head: false },
        "HEAD" => Request::Get { path, head: true },
        _ => Request::OtherMethod,
    }
}

/// Status, content type and body for a request (pure).
pub fn respond(req: &Request, metrics: &Metrics) -> (&'static str, &'static str, String) {
    match req {
        Request::Get { path, .. } if path == "/metrics" => (
            "200 OK",
            exposition::CONTENT_TYPE,
            exposition::render(&metrics.snapshot()),
        ),
        Request::Get { path, .. } if path == "/" => (
            "200 OK",
            "text/plain; charset=utf-8",
            "lpmtrace: metrics at /metrics\n".into(),
        ),
        Request::Get { .. } => ("404 Not Found", "text/plain; charset=utf-8", "not found\n".into()),
        Request::OtherMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
        Request::Malformed => ("400 Bad Request", "text/plain; charset=utf-8", "bad request\n".into()),
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_REQUEST {
            return Ok(Some(Vec::new()));
        }
    }
}

async fn serve(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(r) => r?,
        Err(_) => return Ok(()), // too slow: close without a word
    };
    let Some(head) = head else { return Ok(()) };
    let (req, too_large) = if head.is_empty() {
        (Request::Malformed, true)
    } else {
        (parse_request(&head), false)
    };
    let (status, ctype, body) = if too_large {
        (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            "request too large\n".to_string(),
        )
    } else {
        respond(&req, metrics)
    };
    let head_only = matches!(req, Request::Get { head: true, .. });
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    tokio::time::timeout(READ_TIMEOUT, stream.write_all(&out))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))??;
    let _ = stream.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Snapshot;

    #[test]
    fn parses_request_lines() {
        assert_eq!(
            parse_request(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Request::Get {
                path: "/metrics".into(),
                head: false
            }
        );
        assert_eq!(parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"), Request::OtherMethod);
        assert_eq!(parse_request(b"\x16\x03\x01 tls"), Request::Malformed);
        assert_eq!(parse_request(b"GET /metrics\r\n\r\n"), Request::Malformed);
    }

    #[test]
    fn serves_metrics_over_tcp_and_rejects_the_rest() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let snap = Snapshot {
                events: 7,
                ..Snapshot::default()
            };
            let server = start("127.0.0.1:0", Metrics::new(snap)).await.unwrap();
            let addr = server.local_addr();
            let get = |req: Vec<u8>| async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&req).await.unwrap();
                let mut resp = String::new();
                s.read_to_string(&mut resp).await.unwrap();
                resp
            };
            let r = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
            assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
            assert!(r.contains("\r\n\r\n# HELP lpmtrace_build_info"), "{r}");
            assert!(r.contains("\nlpmtrace_events_total 7\n"), "{r}");
            let body_len = r.split("\r\n\r\n").nth(1).unwrap().len();
            assert!(r.contains(&format!("Content-Length: {body_len}\r\n")));
            assert!(get(b"GET /nope HTTP/1.1\r\n\r\n".to_vec())
                .await
                .starts_with("HTTP/1.1 404"));
            assert!(get(b"DELETE /metrics HTTP/1.1\r\n\r\n".to_vec())
                .await
                .starts_with("HTTP/1.1 405"));
            let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
            big.extend(std::iter::repeat_n(b'a', MAX_REQUEST + 10));
            assert!(get(big).await.starts_with("HTTP/1.1 431"));
        });
    }
}
