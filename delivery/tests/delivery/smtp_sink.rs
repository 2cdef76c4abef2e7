//! A small SMTP server for the tests, on 127.0.0.1 and a free port. It speaks as much SMTP as a
//! client needs to hand over a mail (RFC 5321: greeting, EHLO/HELO, optional AUTH PLAIN, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) and passes every accepted mail to the test.
//!
//! It never offers STARTTLS or 8BITMIME, so it also checks that the mailer refuses to fall back
//! to plain text and that it encodes non-ASCII text for relays that only take 7 bits.

use base64::Engine;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How the sink answers, beyond "250 OK" to everything.
#[derive(Clone, Copy, Default)]
pub struct Script {
    /// The reply to every `RCPT TO`, e.g. `550 5.1.1 no such user`, instead of accepting it.
    pub rcpt_reply: Option<&'static str>,
    /// Offer `AUTH PLAIN` and accept only these credentials (535 for others); `MAIL` before a
    /// successful `AUTH` gets 530.
    pub credentials: Option<(&'static str, &'static str)>,
}

/// One mail the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender and recipients, without the angle brackets.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, lines ending in CRLF.
    pub data: String,
}

impl Received {
    /// The first header called `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.data.split_once("\r\n\r\n")?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }

    /// The text, decoded if it was sent quoted-printable, with LF line ends.
    pub fn text(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
        let quoted_printable = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|encoding| encoding.eq_ignore_ascii_case("quoted-printable"));
        let body = if quoted_printable { decode_quoted_printable(body) } else { body.to_owned() };
        body.replace("\r\n", "\n").trim_end().to_owned()
    }
}

/// A running sink. Dropping it stops accepting connections.
pub struct SmtpSink {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<Received>,
    server: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl SmtpSink {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (sender, received) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-conversation is the client's business.
                    let _ = session(stream, script, sender).await;
                });
            }
        });
        Self { addr, received, server }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The next accepted mail; fails the test if none comes within five seconds.
    pub async fn next(&mut self) -> Received {
        match tokio::time::timeout(Duration::from_secs(5), self.received.recv()).await {
            Ok(Some(mail)) => mail,
            Ok(None) | Err(_) => panic!("the SMTP sink received no mail"),
        }
    }

    /// Fails the test if the sink accepted any mail.
    pub fn assert_nothing_received(&mut self) {
        if let Ok(mail) = self.received.try_recv() {
            panic!("the SMTP sink received a mail: {mail:?}");
        }
    }
}

/// A port on 127.0.0.1 where nothing listens: bound, then released.
pub async fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local address").port()
}

/// A server that accepts connections and never says a word. Returns its port and the task
/// holding the connections; abort the task to close them.
pub async fn silent_server() -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    (port, server)
}

async fn session(
    stream: TcpStream,
    script: Script,
    accepted: mpsc::UnboundedSender<Received>,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 sink.test ESMTP\r\n").await?;

    let mut authenticated = script.credentials.is_none();
    let mut mail_from = None;
    let mut rcpt_to = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" if script.credentials.is_some() => "250-sink.test\r\n250 AUTH PLAIN".to_owned(),
            "EHLO" | "HELO" => "250 sink.test".to_owned(),
            "AUTH" => {
                let accepted = script.credentials.is_some_and(|(user, password)| {
                    plain_credentials(argument)
                        .is_some_and(|given| given == (user.to_owned(), password.to_owned()))
                });
                authenticated |= accepted;
                if accepted { "235 2.7.0 authenticated" } else { "535 5.7.8 credentials invalid" }.to_owned()
            }
            "MAIL" if !authenticated => "530 5.7.0 authentication required".to_owned(),
            "MAIL" => {
                mail_from = Some(path_argument(argument));
                rcpt_to.clear();
                "250 2.1.0 ok".to_owned()
            }
            "RCPT" => match script.rcpt_reply {
                Some(reply) => reply.to_owned(),
                None => {
                    rcpt_to.push(path_argument(argument));
                    "250 2.1.5 ok".to_owned()
                }
            },
            "DATA" if mail_from.is_none() || rcpt_to.is_empty() => "503 5.5.1 MAIL and RCPT first".to_owned(),
            "DATA" => {
                writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let data = read_data(&mut reader).await?;
                let mail = Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                // The test may have stopped listening; the client still gets its 250.
                let _ = accepted.send(mail);
                "250 2.0.0 queued".to_owned()
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 ok".to_owned()
            }
            "NOOP" => "250 2.0.0 ok".to_owned(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognized".to_owned(),
        };
        writer.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The lines after `DATA` up to the lone `.`, with the leading dot that the client doubled on
/// lines starting with one removed again (RFC 5321 §4.5.2).
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<String> {
    let mut data = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}

/// `<ada@example.com> SIZE=123` → `ada@example.com`, after `FROM:` or `TO:`.
fn path_argument(argument: &str) -> String {
    let path = argument.split_once(':').map(|(_, path)| path).unwrap_or(argument);
    let path = path.split_whitespace().next().unwrap_or_default();
    path.trim_start_matches('<').trim_end_matches('>').to_owned()
}

/// `PLAIN <base64 of "\0user\0password">` → `(user, password)`.
fn plain_credentials(argument: &str) -> Option<(String, String)> {
    let encoded = argument.strip_prefix("PLAIN ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let mut parts = decoded.split('\0');
    let (_authorization_id, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    Some((user.to_owned(), password.to_owned()))
}

/// RFC 2045 §6.7: `=XX` is a byte in hex, `=` at a line end joins it to the next line.
fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let mut bytes = Vec::with_capacity(joined.len());
    let mut input = joined.as_bytes().iter().copied();
    while let Some(byte) = input.next() {
        if byte != b'=' {
            bytes.push(byte);
            continue;
        }
        let hex: Vec<u8> = input.by_ref().take(2).collect();
        let decoded = std::str::from_utf8(&hex).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok());
        bytes.push(decoded.unwrap_or_else(|| panic!("bad quoted-printable escape in {body:?}")));
    }
    String::from_utf8(bytes).expect("quoted-printable text is not UTF-8")
}
