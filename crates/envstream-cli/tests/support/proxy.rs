//! A small HTTP/1.1 proxy in front of moto for the KMS tests: it counts
//! requests per KMS operation and injects faults moto does not emulate
//! (error codes, non-KMS answers, a dying server). Loopback only.

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

#[derive(Clone)]
pub struct Fault {
    pub target: &'static str,
    pub status: u16,
    /// The Content-Type of the injected answer.
    pub content_type: &'static str,
    pub body: String,
    /// How many matching requests to fail; None = all of them.
    pub times: Option<usize>,
}

pub const KMS_JSON: &str = "application/x-amz-json-1.1";

/// An HTTP error page that is not a KMS answer (a proxy or the wrong endpoint).
pub fn http_page(target: &'static str, status: u16) -> Fault {
    Fault {
        target,
        status,
        content_type: "text/html",
        body: format!("<html><body><h1>{status}</h1>not here</body></html>"),
        times: None,
    }
}

pub fn kms_error(target: &'static str, code: &str) -> Fault {
    Fault {
        target,
        content_type: KMS_JSON,
        status: 400,
        body: format!("{{\"__type\":\"{code}\",\"message\":\"injected by the test proxy\"}}"),
        times: None,
    }
}

/// A counting, fault-injecting proxy in front of moto.
pub struct Proxy {
    pub url: String,
    pub counts: Arc<Mutex<HashMap<String, usize>>>,
    pub faults: Arc<Mutex<Vec<Fault>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let upstream = host_port(&moto());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let faults: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let (c, f) = (counts.clone(), faults.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (c, f, upstream) = (c.clone(), f.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                    let mut conn = conn;
                    let Some(req) = read_request(&mut reader) else {
                        return;
                    };
                    let target = header(&req, "x-amz-target")
                        .unwrap_or("")
                        .rsplit('.')
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    *c.lock().expect("lock").entry(target.clone()).or_default() += 1;
                    let injected = {
                        let mut faults = f.lock().expect("lock");
                        let hit = faults
                            .iter_mut()
                            .find(|x| x.target == target && x.times != Some(0));
                        hit.map(|x| {
                            if let Some(t) = x.times.as_mut() {
                                *t -= 1;
                            }
                            x.clone()
                        })
                    };
                    let resp = match injected {
                        // Status 0: the server "dies": close without answering.
                        Some(fault) if fault.status == 0 => {
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
                        None => match forward(&upstream, &req) {
                            Ok(raw) => close_response(&raw),
                            Err(_) => return,
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
}
