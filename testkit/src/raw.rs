//! Requests reqwest will not send (a chunked body past the limit, written as it is), over a
//! raw socket.

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer read off a raw socket.
pub struct RawResponse {
    pub status: u16,
    /// The status line and headers, lowercased.
    pub head: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// Sends `head` then `body` chunks as written, and reads the answer until the server closes.
pub async fn raw_request(addr: SocketAddr, head: &str, chunks: &[Vec<u8>]) -> RawResponse {
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect to the app");
    socket.write_all(head.as_bytes()).await.expect("send the request head");
    for chunk in chunks {
        // The server may answer (and close) before the whole body is in: what it answered is
        // what the test checks, so the rest of the body is not sent.
        if socket.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server did not answer within 10 s");
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("no status line in {head:?}"));
    RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// `data` as one chunk of a chunked body.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut encoded = format!("{:x}\r\n", data.len()).into_bytes();
    encoded.extend_from_slice(data);
    encoded.extend_from_slice(b"\r\n");
    encoded
}
