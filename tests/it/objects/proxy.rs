//! A proxy in front of an S3 server (moto or Garage) that injects faults into DeleteObjects
//! requests: throttling, server errors, dropped connections, per-key refusals, slow answers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a DeleteObjects request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 SlowDown, not forwarded.
    SlowDown,
    /// 500 InternalError, not forwarded.
    Internal,
    /// The connection closed without an answer, not forwarded.
    Drop,
    /// Forwarded; the first key of the request is reported as refused (AccessDenied) in the
    /// 200 answer.
    RefuseFirstKey,
    /// Forwarded after a second.
    Slow,
}

/// A proxy in front of an S3 server: one request per connection, faults injected into
/// DeleteObjects requests in order, everything else forwarded as is.
pub struct FaultProxy {
    pub endpoint: String,
    pub served: Arc<AtomicUsize>,
    pub deletes: Arc<AtomicUsize>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, faults: Vec<Fault>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let faults = Arc::new(Mutex::new(std::collections::VecDeque::from(faults)));
        let served = Arc::new(AtomicUsize::new(0));
        let deletes = Arc::new(AtomicUsize::new(0));
        let (s, d) = (served.clone(), deletes.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (upstream, faults, s, d) =
                    (upstream.clone(), faults.clone(), s.clone(), d.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &upstream, &faults, &s, &d).await;
                });
            }
        });
        FaultProxy {
            endpoint,
            served,
            deletes,
        }
    }
}

async fn serve(
    mut conn: TcpStream,
    upstream: &str,
    faults: &Mutex<std::collections::VecDeque<Fault>>,
    served: &AtomicUsize,
    deletes: &AtomicUsize,
) -> std::io::Result<()> {
    // Read the head, then the body by Content-Length.
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 65536];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let first = head.lines().next().unwrap_or_default().to_string();
    let is_delete = first.starts_with("POST ") && first.contains("?delete");
    let fault = if is_delete {
        deletes.fetch_add(1, Ordering::SeqCst);
        faults.lock().expect("faults").pop_front()
    } else {
        None
    };
    let error = |status: &str, code: &str| {
        let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected</Message></Error>");
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match fault {
        Some(Fault::SlowDown) => {
            served.fetch_add(1, Ordering::SeqCst);
            conn.write_all(error("503 Slow Down", "SlowDown").as_bytes())
                .await?;
            return conn.shutdown().await;
        }
        Some(Fault::Internal) => {
            served.fetch_add(1, Ordering::SeqCst);
            conn.write_all(error("500 Internal Server Error", "InternalError").as_bytes())
                .await?;
            return conn.shutdown().await;
        }
        Some(Fault::Drop) => {
            served.fetch_add(1, Ordering::SeqCst);
            return Ok(()); // closes without an answer
        }
        _ => {}
    }
    if fault == Some(Fault::Slow) {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    // Forward, asking the server to close after its answer, and relay the answer.
    let mut up = TcpStream::connect(upstream).await?;
    let head = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\nConnection: close\r\n\r\n";
    up.write_all(head.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    if fault == Some(Fault::RefuseFirstKey) {
        served.fetch_add(1, Ordering::SeqCst);
        answer = refuse_first_key(&buf[head_end..], &answer);
    }
    conn.write_all(&answer).await?;
    conn.shutdown().await
}

/// Rewrites a DeleteObjects answer so that the request's first key is reported as refused.
fn refuse_first_key(request: &[u8], answer: &[u8]) -> Vec<u8> {
    let req = String::from_utf8_lossy(request);
    let key = req
        .split("<Key>")
        .nth(1)
        .and_then(|r| r.split("</Key>").next())
        .unwrap_or_default();
    let version = req
        .split("<VersionId>")
        .nth(1)
        .and_then(|r| r.split("</VersionId>").next())
        .map(|v| format!("<VersionId>{v}</VersionId>"))
        .unwrap_or_default();
    let text = String::from_utf8_lossy(answer).to_string();
    let Some(split) = text.find("\r\n\r\n") else {
        return answer.to_vec();
    };
    let (head, body) = text.split_at(split + 4);
    let error = format!(
        "<Error><Key>{key}</Key>{version}<Code>AccessDenied</Code><Message>injected</Message></Error>"
    );
    let body = if body.contains("</DeleteResult>") {
        body.replace("</DeleteResult>", &format!("{error}</DeleteResult>"))
    } else {
        body.replace(
            "<DeleteResult/>",
            &format!("<DeleteResult>{error}</DeleteResult>"),
        )
    };
    let head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:") && !l.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}
