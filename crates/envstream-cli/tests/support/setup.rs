//! Test setup straight against moto (unsigned requests; moto checks no
//! signature): KMS keys and aliases, S3 buckets and objects.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::proxy::{forward, host_port, moto, Request};

pub const ACCOUNT: &str = "123456789012";

/// A raw, unsigned KMS JSON call to moto (test setup only), in us-east-1.
pub fn kms_call(target: &str, body: serde_json::Value) -> serde_json::Value {
    kms_call_in("us-east-1", target, body)
}

/// A raw KMS JSON call to moto in `region` (moto takes the region from the
/// credential scope and does not check signatures).
pub fn kms_call_in(region: &str, target: &str, body: serde_json::Value) -> serde_json::Value {
    let upstream = host_port(&moto());
    let body = body.to_string();
    let req = Request {
        head: vec![
            "POST / HTTP/1.1".into(),
            format!("Host: {upstream}"),
            format!("X-Amz-Target: TrentService.{target}"),
            "Content-Type: application/x-amz-json-1.1".into(),
            format!("Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/{region}/kms/aws4_request, SignedHeaders=host, Signature=0"),
            format!("Content-Length: {}", body.len()),
        ],
        body: body.into_bytes(),
    };
    let raw = forward(&upstream, &req).expect("moto reachable");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("http response")
        + 4;
    let status = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
        "{target}: {status}"
    );
    serde_json::from_slice(&raw[split..]).expect("json")
}

/// Creates a KMS key in moto (us-east-1) and returns its ARN.
pub fn create_key() -> String {
    create_key_in("us-east-1")
}

pub fn create_key_in(region: &str) -> String {
    let v = kms_call_in(
        region,
        "CreateKey",
        serde_json::json!({"Description": "envstream test"}),
    );
    let arn = v["KeyMetadata"]["Arn"].as_str().expect("arn").to_owned();
    assert!(arn.starts_with(&format!("arn:aws:kms:{region}:")), "{arn}");
    arn
}

pub fn create_alias(name: &str, arn: &str) {
    kms_call(
        "CreateAlias",
        serde_json::json!({"AliasName": name, "TargetKeyId": arn}),
    );
}

/// One unsigned request straight to moto; returns the status and body.
pub fn http(method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let hp = host_port(&moto());
    let mut s = TcpStream::connect(&hp).expect("moto");
    let head = format!(
        // moto checks no signature, but refuses some anonymous reads.
        "{method} {path} HTTP/1.1\r\nHost: {hp}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send");
    s.write_all(body).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer")
        + 4;
    let status = String::from_utf8_lossy(&raw[..split])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, raw[split..].to_vec())
}

/// A fresh bucket per test, so tests can run in parallel.
pub fn bucket(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (status, _) = http("PUT", &format!("/{name}"), b"");
    assert_eq!(status, 200, "create bucket {name}");
    name
}

/// Multipart uploads still open in `bucket`.
pub fn open_uploads(bucket: &str) -> usize {
    let (status, body) = http("GET", &format!("/{bucket}?uploads"), b"");
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body).matches("<Upload>").count()
}

pub fn exists(bucket: &str, key: &str) -> bool {
    http("HEAD", &format!("/{bucket}/{key}"), b"").0 == 200
}

pub fn get(bucket: &str, key: &str) -> Vec<u8> {
    let (status, body) = http("GET", &format!("/{bucket}/{key}"), b"");
    assert_eq!(status, 200, "GET {bucket}/{key}");
    body
}

pub fn put(bucket: &str, key: &str, data: &[u8]) {
    let (status, _) = http("PUT", &format!("/{bucket}/{key}"), data);
    assert_eq!(status, 200, "PUT {bucket}/{key}");
}
