//! `envstream rekey`: unwrap once, write a new header with keys added or
//! removed, and copy the body verbatim (nothing is decrypted).

use anyhow::{Context, Result};
use envstream::{Backend, LocalKey, OpenOptions, Opener};
use envstream_kms::KmsKeyring;

use super::keys::{key_file_paths, recipients, unique_kms_keys, warn_if_shared, with_unwrap_keys};
use super::{check_output_target, input_size, key_ids, refuse_terminal_stdout};
use crate::cli::RekeyArgs;
use crate::error::UsageError;
use crate::output::{input_label, open_sealed_input, output_label, Sink};
use crate::paths::Protected;
use crate::report::Report;

pub(super) fn run(args: RekeyArgs, report: &mut Report) -> Result<()> {
    let be = Backend::default();
    report.backend(be);
    if args.add_kms_keys.is_empty() && args.add_key_files.is_empty() && args.remove_keys.is_empty()
    {
        return Err(
            UsageError("rekey needs --add-kms-key, --add-key-file or --remove-key".into()).into(),
        );
    }
    refuse_terminal_stdout(&args.out.output)?;
    let input_path = Some(args.input.clone());
    let mut protected = vec![Protected::input(&input_path)];
    protected.extend(
        key_file_paths(&args.unwrap.keys)
            .into_iter()
            .map(Protected::KeyFile),
    );
    protected.extend(args.add_key_files.iter().cloned().map(Protected::KeyFile));
    check_output_target(&args.out.output, &protected)?;
    let mut add_local: Vec<LocalKey> = Vec::new();
    for p in &args.add_key_files {
        warn_if_shared(p);
        let key = LocalKey::load(p, be).with_context(|| format!("key file {}", p.display()))?;
        if !add_local.iter().any(|k| k.key_id() == key.key_id()) {
            add_local.push(key);
        }
    }
    let add_kms_names = unique_kms_keys("--add-kms-key", &args.add_kms_keys);
    let rekeyed = with_unwrap_keys(&args.unwrap, be, !add_kms_names.is_empty(), |refs, kms| {
        let input = open_sealed_input(&input_path)?;
        let size = input_size(&input);
        let input = report.count_input(input, size, &input_label(&input_path));
        let opener = Opener::new(input)?;
        let add_kms: Vec<KmsKeyring> = match kms {
            Some(k) => add_kms_names
                .iter()
                .map(|id| KmsKeyring::seal(k.clients.clone(), id.clone()))
                .collect(),
            None => Vec::new(),
        };
        let add = recipients(&add_local, &add_kms);
        let options = OpenOptions::new().backend(be);
        Ok(opener.rekey_blocking(refs, options, &add, &args.remove_keys)?)
    })?;
    let header = rekeyed.header().clone();
    report.header(&header, key_ids(&header));
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let out = report.count_output(sink.writer(), &output_label(&args.out.output));
    let (_, body) = rekeyed.write_to(out)?;
    report.stats(envstream::BodyLayout::new(&header).chunk_count(body));
    sink.commit()
}
