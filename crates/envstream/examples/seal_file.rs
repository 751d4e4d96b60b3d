//! Seal one file to another with a local key file (blocking API).
//!
//! ```sh
//! envstream keygen -o demo.key
//! cargo run -p envstream --example seal_file -- demo.key input.bin output.envs
//! ```

use std::fs::File;

use envstream::{Backend, EncryptionContext, Keyring, LocalKey, SealOptions, Sealer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, key_file, input, output] = args.as_slice() else {
        return Err("usage: seal_file KEY_FILE INPUT OUTPUT".into());
    };
    let key = LocalKey::load(key_file.as_ref(), Backend::default())?;
    let keyrings: [&dyn Keyring; 1] = [&key];
    let context = EncryptionContext::from_pairs([("example", "seal_file")])?;
    let sealer = Sealer::prepare_blocking(&keyrings, SealOptions::new().context(context))?;
    // Workers = one per core (0); the output is written in order.
    let (_, stats) = sealer.seal_stream(File::open(input)?, File::create(output)?, 0)?;
    eprintln!(
        "sealed {} bytes in {} chunks",
        stats.plaintext_bytes, stats.chunks
    );
    Ok(())
}
