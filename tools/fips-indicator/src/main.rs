//! Reads AWS-LC's FIPS service indicator around each step of an envstream
//! seal and open, through envstream's own code
//! (`envstream::fuzzing::fips_probe`), and around the alternatives a
//! format-preserving change could use. Prints one line per step: the
//! module calls the step makes, how many of them the indicator counted as
//! approved services, and the verdict. docs/SECURITY.md ("FIPS") records
//! the answer.
//!
//! The indicator is a per-thread counter that the module increments when
//! an approved service completes; a step whose count does not move used a
//! service that is not approved (or none).

use envstream::fuzzing::{fips_probe, FipsStep};

/// The indicator counter, read before an operation.
fn before() -> u64 {
    // SAFETY: an FFI call without arguments that reads a thread-local
    // counter of the module.
    unsafe { aws_lc_fips_sys::FIPS_service_indicator_before_call() }
}

/// The indicator counter, read after an operation.
fn after() -> u64 {
    // SAFETY: as `before`.
    unsafe { aws_lc_fips_sys::FIPS_service_indicator_after_call() }
}

/// Runs `op` between two reads; the number of approved services counted.
fn counted(op: &mut dyn FnMut()) -> u64 {
    let b = before();
    op();
    after().wrapping_sub(b)
}

fn verdict(calls: u64, approved: u64) -> &'static str {
    if approved >= calls {
        "approved"
    } else if approved == 0 {
        "NOT approved"
    } else {
        "partly approved"
    }
}

fn line(name: &str, calls: u64, approved: u64, ok: bool) -> bool {
    let v = if ok {
        verdict(calls, approved)
    } else {
        "FAILED"
    };
    println!("{name:<58} {calls:>5} {approved:>8}   {v}");
    ok
}

/// envstream's chunk nonce (FORMAT.md section 7.1): 7 zero bytes, the
/// chunk index (32 bits, big-endian), the final flag.
fn chunk_nonce(index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn main() -> std::process::ExitCode {
    use aws_lc_rs::aead::{
        Aad, LessSafeKey, Nonce, RandomizedNonceKey, TlsProtocolId, TlsRecordSealingKey,
        UnboundKey, AES_256_GCM,
    };
    let mode = aws_lc_rs::try_fips_mode();
    println!(
        "AWS-LC {} (FIPS module {:?}), FIPS mode: {}",
        aws_lc_rs::awslc_version(),
        aws_lc_rs::fips_version(),
        if mode.is_ok() { "on" } else { "OFF" }
    );
    println!("{:<58} {:>5} {:>8}   verdict", "step", "calls", "approved");
    let mut all_ok = mode.is_ok();
    for step in FipsStep::ALL {
        let mut approved = 0;
        let ok = fips_probe(step, &mut |op| approved = counted(op));
        all_ok &= line(&format!("envstream: {step:?}"), step.calls(), approved, ok);
    }

    // The alternatives, on the same key and plaintext: a stream of three
    // full chunks and a final one, with envstream's nonces.
    let key = [7u8; 32];
    let chunks: Vec<(u32, bool, Vec<u8>)> = (0..4u32)
        .map(|i| (i, i == 3, vec![i as u8; if i == 3 { 100 } else { 4096 }]))
        .collect();
    let reference: Vec<Vec<u8>> = {
        let k = match UnboundKey::new(&AES_256_GCM, &key) {
            Ok(k) => LessSafeKey::new(k),
            Err(_) => return std::process::ExitCode::FAILURE,
        };
        chunks
            .iter()
            .map(|(i, last, p)| {
                let mut buf = p.clone();
                let nonce = Nonce::assume_unique_for_key(chunk_nonce(*i, *last));
                let tag = k.seal_in_place_separate_tag(nonce, Aad::empty(), &mut buf);
                if let Ok(t) = tag {
                    buf.extend_from_slice(t.as_ref());
                }
                buf
            })
            .collect()
    };
    // TLS 1.3 record protection: the module checks that the nonces grow
    // (after the mask the first nonce sets), so it counts the IV as
    // constructed in the module. envstream's nonces grow within a stream.
    match TlsRecordSealingKey::new(&AES_256_GCM, TlsProtocolId::TLS13, &key) {
        Ok(mut k) => {
            let mut same = true;
            for ((i, last, p), want) in chunks.iter().zip(&reference) {
                let mut buf = p.clone();
                let mut nonce = Some(Nonce::assume_unique_for_key(chunk_nonce(*i, *last)));
                let mut res = Ok(());
                let approved = counted(&mut || {
                    if let Some(n) = nonce.take() {
                        res = k.seal_in_place_append_tag(n, Aad::empty(), &mut buf);
                    }
                });
                same &= res.is_ok() && &buf == want;
                all_ok &= line(
                    &format!("alternative: TLS 1.3 AEAD, chunk {i} (final: {last})"),
                    1,
                    approved,
                    res.is_ok(),
                );
            }
            println!(
                "  the TLS 1.3 AEAD's output is {} envstream's (the format is unchanged)",
                if same {
                    "byte-identical to"
                } else {
                    "DIFFERENT from"
                }
            );
            all_ok &= same;
            // Out of order (what parallel workers sharing one context
            // would do): refused by the module.
            let mut buf = vec![0u8; 16];
            let nonce = Nonce::assume_unique_for_key(chunk_nonce(1, false));
            let refused = k
                .seal_in_place_append_tag(nonce, Aad::empty(), &mut buf)
                .is_err();
            println!(
                "  a nonce below the last one on the same context is {}",
                if refused { "refused" } else { "ACCEPTED" }
            );
        }
        Err(_) => all_ok &= line("alternative: TLS 1.3 AEAD", 1, 0, false),
    }
    // HKDF with an explicit salt of HashLen zero bytes: RFC 5869 defines an
    // empty salt as exactly that, so the KEK is the same bytes.
    {
        use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA512};
        struct Len32;
        impl KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let ikm = [5u8; 32];
        let info: &[&[u8]] = &[b"envstream v1 local kek"];
        let derive = |salt: &[u8]| {
            let mut out = [0u8; 32];
            let ok = Salt::new(HKDF_SHA512, salt)
                .extract(&ikm)
                .expand(info, Len32)
                .and_then(|okm| okm.fill(&mut out))
                .is_ok();
            (ok, out)
        };
        let mut got = (false, [0u8; 32]);
        let approved = counted(&mut || got = derive(&[0u8; 64]));
        let (empty_ok, empty) = derive(&[]);
        all_ok &= line(
            "alternative: HKDF-SHA-512, salt of 64 zero bytes",
            1,
            approved,
            got.0 && empty_ok,
        );
        println!(
            "  its output is {} the empty salt's",
            if got.1 == empty {
                "identical to"
            } else {
                "DIFFERENT from"
            }
        );
        all_ok &= got.1 == empty;
    }
    // Module-generated nonces (a format change: each chunk would carry one).
    match RandomizedNonceKey::new(&AES_256_GCM, &key) {
        Ok(k) => {
            let mut buf = vec![1u8; 4096];
            let mut ok = false;
            let approved = counted(&mut || {
                ok = k.seal_in_place_append_tag(Aad::empty(), &mut buf).is_ok();
            });
            all_ok &= line(
                "alternative: module-generated random nonce",
                1,
                approved,
                ok,
            );
        }
        Err(_) => all_ok &= line("alternative: module-generated random nonce", 1, 0, false),
    }
    if all_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
