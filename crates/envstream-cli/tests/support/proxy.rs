//! A small HTTP/1.1 proxy in front of moto for the KMS and S3 tests: it
//! counts requests per operation and injects faults moto does not emulate
//! (error codes, non-KMS answers, a dying server, a server that never
//! answers, an answer cut off in the middle). Loopback only.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The moto endpoint `scripts/test.sh` started.
pub fn moto() -> String {
    std::env::var("ENVSTREAM_TEST_KMS_ENDPOINT").expect(
        "ENVSTREAM_TEST_KMS_ENDPOINT is not set: run the KMS tests through scripts/test.sh, which starts moto",
    )
}

pub fn host_port(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http:// endpoint");
    let hp = rest.split('/').next().expect("host");
    assert!(
        hp.starts_with("127.0.0.1:"),
        "tests only talk to 127.0.0.1, not {hp}"
    );
    hp.to_owned()
}

/// One HTTP/1.1 request: head lines and body.
pub struct Request {
    pub head: Vec<String>,
    pub body: Vec<u8>,
}

pub fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let chunked = head.iter().any(|h| {
        h.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    if chunked {
        // Kept as sent (chunk sizes and all) and forwarded unchanged.
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            body.extend_from_slice(line.as_bytes());
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).ok()? == 0 {
                        return None;
                    }
                    body.extend_from_slice(t.as_bytes());
                    if t.trim().is_empty() {
                        return Some(Request { head, body });
                    }
                }
            }
            let mut data = vec![0u8; size + 2];
            r.read_exact(&mut data).ok()?;
            body.extend_from_slice(&data);
        }
    }
    let len = head
        .iter()
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.head.iter().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Sends `req` to `upstream` with `Connection: close` and returns the raw response.
pub fn forward(upstream: &str, req: &Request) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(upstream)?;
    let mut out = Vec::new();
    out.extend_from_slice(req.head[0].as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in &req.head[1..] {
        if !h.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&req.body);
    s.write_all(&out)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    Ok(resp)
}

/// Replaces any Connection header of a raw response with `Connection: close`.
pub fn close_response(raw: &[u8]) -> Vec<u8> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if !lower.starts_with("connection:") && !lower.starts_with("keep-alive:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut v = out.into_bytes();
    v.extend_from_slice(&raw[split..]);
    v
}

/// Builds a whole raw HTTP answer for a request; `upstream` forwards the
/// request to moto and returns its raw answer (for faults that mangle it).
pub type Maker = Arc<dyn Fn(&Request, &dyn Fn() -> Option<Vec<u8>>) -> Vec<u8> + Send + Sync>;

#[derive(Clone)]
pub struct Fault {
    /// The operation to fail, or `*` for every request.
    pub target: &'static str,
    pub status: u16,
    /// The Content-Type of the injected answer.
    pub content_type: &'static str,
    pub body: String,
    /// How many matching requests to fail; None = all of them.
    pub times: Option<usize>,
    /// How many matching requests to let through first.
    pub after: usize,
    /// Builds the answer itself (status, headers and body) instead.
    pub make: Option<Maker>,
}

impl Default for Fault {
    fn default() -> Self {
        Fault {
            target: "",
            status: 500,
            content_type: "text/plain",
            body: String::new(),
            times: None,
            after: 0,
            make: None,
        }
    }
}

/// A raw HTTP/1.1 answer.
pub fn raw_answer(status: u16, content_type: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A fault whose answer `make` builds.
pub fn custom(target: &'static str, make: Maker) -> Fault {
    Fault {
        target,
        make: Some(make),
        ..Fault::default()
    }
}

/// The body of a raw HTTP answer.
pub fn body_of(raw: &[u8]) -> &[u8] {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    &raw[at..]
}

/// The `"Plaintext"` values (base64, decoded) in a KMS JSON body.
pub fn plaintexts(body: &[u8]) -> Vec<Vec<u8>> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    v.get("Plaintext")
        .and_then(|p| p.as_str())
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .into_iter()
        .collect()
}

pub const KMS_JSON: &str = "application/x-amz-json-1.1";

/// Fault status: the server "dies": the connection closes without an answer.
pub const DIE: u16 = 0;
/// Fault status: the server never answers (the connection stays open).
pub const HANG: u16 = 1;
/// Fault status: the real answer, cut off in the middle of its body.
pub const CUT: u16 = 2;
/// Fault status: the request reaches the server, but its answer is lost
/// (the connection closes before it).
pub const LOSE: u16 = 3;

/// A fault of kind `status` (`DIE`, `HANG`, `CUT`) for `times` requests.
pub fn fault(target: &'static str, status: u16, times: Option<usize>) -> Fault {
    Fault {
        target,
        status,
        times,
        ..Fault::default()
    }
}

/// An S3 error answer (XML) with `code`.
pub fn s3_error(target: &'static str, status: u16, code: &str, times: Option<usize>) -> Fault {
    Fault {
        target,
        status,
        content_type: "application/xml",
        body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"),
        times,
        ..Fault::default()
    }
}

/// The KMS operation of a request (from `X-Amz-Target`).
pub fn kms_op(req: &Request) -> String {
    header(req, "x-amz-target")
        .unwrap_or("")
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// The S3 operation of a (path-style) request, from its method, path and query.
pub fn s3_op(req: &Request) -> String {
    let mut words = req.head[0].split(' ');
    let method = words.next().unwrap_or("");
    let target = words.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    let object = path.trim_start_matches('/').contains('/');
    let op = match method {
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "PUT" if has("partNumber") && header(req, "x-amz-copy-source").is_some() => {
            "UploadPartCopy"
        }
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" if object => "PutObject",
        "PUT" => "CreateBucket",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" => "DeleteObject",
        "GET" if has("uploads") => "ListMultipartUploads",
        "GET" if object => "GetObject",
        "GET" => "ListObjects",
        "HEAD" => "HeadObject",
        other => other,
    };
    op.to_owned()
}

/// An HTTP error page that is not a KMS answer (a proxy or the wrong endpoint).
pub fn http_page(target: &'static str, status: u16) -> Fault {
    Fault {
        target,
        status,
        content_type: "text/html",
        body: format!("<html><body><h1>{status}</h1>not here</body></html>"),
        ..Fault::default()
    }
}

pub fn kms_error(target: &'static str, code: &str) -> Fault {
    Fault {
        target,
        content_type: KMS_JSON,
        status: 400,
        body: format!("{{\"__type\":\"{code}\",\"message\":\"injected by the test proxy\"}}"),
        ..Fault::default()
    }
}

/// The operation of a request to a proxy that serves both KMS and S3.
pub fn any_op(req: &Request) -> String {
    if header(req, "x-amz-target").is_some() {
        kms_op(req)
    } else {
        s3_op(req)
    }
}

/// A counting, fault-injecting proxy in front of moto. It also keeps every
/// KMS data key it sees go by (the `Plaintext` of Encrypt requests and of
/// GenerateDataKey and Decrypt answers), for the tests that prove no
/// secret reaches a message or a report.
pub struct Proxy {
    pub url: String,
    pub counts: Arc<Mutex<HashMap<String, usize>>>,
    pub faults: Arc<Mutex<Vec<Fault>>>,
    pub secrets: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Proxy {
    /// A proxy for KMS requests.
    pub fn start() -> Proxy {
        Self::start_with(kms_op)
    }

    /// A proxy whose operations are named by `op`.
    pub fn start_with(op: fn(&Request) -> String) -> Proxy {
        let upstream = host_port(&moto());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let faults: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let secrets: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let (c, f, sec) = (counts.clone(), faults.clone(), secrets.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (c, f, upstream) = (c.clone(), f.clone(), upstream.clone());
                let sec = sec.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                    let mut conn = conn;
                    let Some(req) = read_request(&mut reader) else {
                        return;
                    };
                    let target = op(&req);
                    *c.lock().expect("lock").entry(target.clone()).or_default() += 1;
                    if header(&req, "x-amz-target").is_some() {
                        sec.lock().expect("lock").extend(plaintexts(&req.body));
                    }
                    let injected = {
                        let mut faults = f.lock().expect("lock");
                        let hit = faults.iter_mut().find(|x| {
                            (x.target == target || x.target == "*") && x.times != Some(0)
                        });
                        hit.and_then(|x| {
                            if x.after > 0 {
                                x.after -= 1;
                                return None;
                            }
                            if let Some(t) = x.times.as_mut() {
                                *t -= 1;
                            }
                            Some(x.clone())
                        })
                    };
                    let kms = header(&req, "x-amz-target").is_some();
                    let fetch = || {
                        let raw = forward(&upstream, &req).ok()?;
                        if kms {
                            sec.lock().expect("lock").extend(plaintexts(body_of(&raw)));
                        }
                        Some(raw)
                    };
                    let resp = match injected {
                        Some(Fault { make: Some(make), .. }) => make(&req, &fetch),
                        // Status 0: the server "dies": close without answering.
                        Some(fault) if fault.status == DIE => {
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        Some(fault) if fault.status == HANG => {
                            std::thread::sleep(Duration::from_secs(90));
                            return;
                        }
                        Some(fault) if fault.status == LOSE => {
                            let _ = forward(&upstream, &req);
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        Some(fault) if fault.status == CUT => {
                            let Ok(raw) = forward(&upstream, &req) else {
                                return;
                            };
                            let raw = close_response(&raw);
                            let body_at = raw
                                .windows(4)
                                .position(|w| w == b"\r\n\r\n")
                                .map_or(raw.len(), |p| p + 4);
                            let cut = body_at + (raw.len() - body_at) / 2;
                            let _ = conn.write_all(&raw[..cut]);
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        Some(fault) => format!(
                            "HTTP/1.1 {} Injected\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            fault.status,
                            fault.content_type,
                            fault.body.len(),
                            fault.body
                        )
                        .into_bytes(),
                        None => match fetch() {
                            Some(raw) => close_response(&raw),
                            None => return,
                        },
                    };
                    let _ = conn.write_all(&resp);
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy {
            url,
            counts,
            faults,
            secrets,
        }
    }

    pub fn count(&self, op: &str) -> usize {
        self.counts
            .lock()
            .expect("lock")
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.counts.lock().expect("lock").values().sum()
    }

    pub fn reset(&self) {
        self.counts.lock().expect("lock").clear();
        self.faults.lock().expect("lock").clear();
    }

    pub fn inject(&self, f: Fault) {
        self.faults.lock().expect("lock").push(f);
    }

    /// The data keys seen so far.
    pub fn secrets(&self) -> Vec<Vec<u8>> {
        self.secrets.lock().expect("lock").clone()
    }
}
