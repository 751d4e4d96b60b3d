//! Open one byte range of a sealed file asynchronously: only the header and
//! the chunks that overlap the range are read and authenticated.
//!
//! ```sh
//! cargo run -p envstream --features tokio --example async_open_range -- KEY_FILE FILE START LEN
//! ```

use envstream::{AsyncOpener, Backend, Keyring, LocalKey, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, key_file, file, start, len] = args.as_slice() else {
        return Err("usage: async_open_range KEY_FILE FILE START LEN".into());
    };
    let (start, len): (u64, u64) = (start.parse()?, len.parse()?);
    let key = LocalKey::load(key_file.as_ref(), Backend::default())?;
    let keyrings: [&dyn Keyring; 1] = [&key];
    let source = tokio::fs::File::open(file).await?;
    let mut reader = AsyncOpener::new(source)
        .await?
        .unlock(&keyrings, OpenOptions::new())
        .await?;
    reader.seek_to(start).await?;
    let mut range = Vec::new();
    (&mut reader).take(len).read_to_end(&mut range).await?;
    tokio::io::stdout().write_all(&range).await?;
    Ok(())
}
