//! Text that came from a server (an error code, an error message, a key id
//! in an answer), made fit for a one-line message: printable, short, and
//! with anything that could be key material taken out.
//!
//! A server, a proxy or a wrong endpoint controls these strings. A hostile
//! or broken one can echo the request, which for KMS `Encrypt` carries the
//! data key, so every opaque token long enough to hold 128 bits (hex,
//! base64 in any alphabet, with or without padding) is replaced by
//! `[redacted]`, except the shapes KMS uses for key ids (a UUID, or
//! `mrk-` and 32 hex digits), which name keys and are needed in messages.

/// The longest server-supplied message kept, in characters.
const MAX_MESSAGE: usize = 200;

/// Opaque tokens of at least this many characters are redacted: 128 bits
/// are 32 hex digits, 22 base64 characters.
const MIN_SECRET_TOKEN: usize = 20;

/// A server's error code as it may appear in a message: letters, digits,
/// `.`, `_`, `:` and `-`, at most 64 of them. Anything else is not a code
/// (`None`).
pub fn error_code(code: &str) -> Option<String> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    ok.then(|| code.to_owned())
}

/// A server's error message on one line: control characters and runs of
/// white space become one space, opaque tokens are redacted, and it is cut
/// to 200 characters.
pub fn server_message(msg: &str) -> String {
    let printable: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let folded = printable.split_whitespace().collect::<Vec<_>>().join(" ");
    let redacted = redact(&folded);
    if redacted.chars().count() > MAX_MESSAGE {
        let cut: String = redacted.chars().take(MAX_MESSAGE).collect();
        format!("{cut}…")
    } else {
        redacted
    }
}

/// A short server-supplied value (a key id or ARN in an answer, a header
/// value) for a message: like [`server_message`], at most 100 characters,
/// and quoted.
pub fn server_value(v: &str) -> String {
    let m = server_message(v);
    let m = if m.chars().count() > 100 {
        let cut: String = m.chars().take(100).collect();
        format!("{cut}…")
    } else {
        m
    };
    format!("{m:?}")
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '%')
}

/// Replaces every opaque token of 20 or more characters
/// (from the hex and base64 alphabets, `%` for URL-encoded padding) with
/// `[redacted]`, unless it is a KMS key id shape.
pub fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.chars().count() >= MIN_SECRET_TOKEN && !names_a_key(token) {
            out.push_str("[redacted]");
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in s.chars() {
        if token_char(c) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Whether a token is a KMS key reference that messages need: a UUID key
/// id or an `mrk-` multi-Region key id, alone or as `key/ID`, and nothing
/// else (no data can hide in either shape).
fn names_a_key(token: &str) -> bool {
    let id = token.strip_prefix("key/").unwrap_or(token);
    is_uuid(id) || is_mrk_id(id)
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_mrk_id(s: &str) -> bool {
    s.strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_of_a_key_is_redacted() {
        // 32 bytes in hex, base64 (padded, unpadded, URL-safe) and
        // percent-encoded base64.
        for secret in [
            "6f8c1a3be2d94f0aa17c55e0b3d2c9917e4f0a8b6c5d4e3f2a1b0c9d8e7f6a5b",
            "b3FV+f6Rc7zX+XllMJGAV7QFr4cLK0ZI6TisuWyffjo=",
            "b3FV+f6Rc7zX+XllMJGAV7QFr4cLK0ZI6TisuWyffjo",
            "b3FV-f6Rc7zX-XllMJGAV7QFr4cLK0ZI6TisuWyffjo",
            "b3FV%2Bf6Rc7zX%2BXllMJGAV7QFr4cLK0ZI6TisuWyffjo%3D",
        ] {
            let m = server_message(&format!(
                "{{\"Plaintext\":\"{secret}\",\"KeyId\":\"x\"}} and more"
            ));
            assert!(!m.contains(secret), "{m}");
            assert!(m.contains("[redacted]"), "{m}");
        }
    }

    #[test]
    fn key_ids_and_ordinary_words_stay() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            server_message(&format!("Key '{arn}' does not exist")),
            format!("Key '{arn}' does not exist")
        );
        let mrk = "arn:aws:kms:us-west-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab";
        assert!(server_message(mrk).contains("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert_eq!(
            server_message("The specified bucket does not exist"),
            "The specified bucket does not exist"
        );
    }

    #[test]
    fn messages_are_one_short_line() {
        let m = server_message("a\nb\r\n\tc\u{1b}[31m d");
        assert_eq!(m, "a b c [31m d");
        let long = "word ".repeat(100);
        assert!(server_message(&long).chars().count() <= MAX_MESSAGE + 1);
        assert!(server_value(&long).chars().count() <= 103);
    }

    #[test]
    fn codes_are_plain_words() {
        assert_eq!(error_code("NoSuchKey").as_deref(), Some("NoSuchKey"));
        assert_eq!(
            error_code("com.amazonaws.kms#NotFoundException").as_deref(),
            None
        );
        assert_eq!(error_code("<html>"), None);
        assert_eq!(error_code(""), None);
    }
}
