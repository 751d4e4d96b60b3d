//! `envstream rekey`: unwrap once, write a new header with keys added or
//! removed, and copy the body verbatim (nothing is decrypted).

use anyhow::{Context, Result};
use envstream::{Backend, BodyLayout, LocalKey, OpenOptions, Opener};
use envstream_kms::KmsKeyring;
use envstream_s3::blocking::Upload;
use envstream_s3::{PartSchedule, UploadOptions};

use super::keys::{key_file_paths, recipients, unique_kms_keys, warn_if_shared, with_unwrap_keys};
use super::{check_output_target, input_size, key_ids, refuse_terminal_stdout};
use crate::cli::RekeyArgs;
use crate::error::UsageError;
use crate::output::{input_label, open_sealed_input, output_label, Output, Sink};
use crate::paths::Protected;
use crate::report::Report;
use crate::s3::Input;

pub(super) fn run(args: RekeyArgs, report: &mut Report) -> Result<()> {
    let be = Backend::default();
    report.backend(be);
    if args.add_kms_keys.is_empty() && args.add_key_files.is_empty() && args.remove_keys.is_empty()
    {
        return Err(
            UsageError("rekey needs --add-kms-key, --add-key-file or --remove-key".into()).into(),
        );
    }
    let input_path = Some(args.input.clone());
    let s3_in = crate::s3::location(input_path.as_ref())?;
    let s3_out = crate::s3::location(args.out.output.as_ref())?;
    let s3_flags = args.s3.s3();
    if s3_in.is_none() && s3_out.is_none() {
        crate::s3::refuse_unused(&s3_flags, "an s3:// input or output")?;
    } else if s3_out.is_none() && s3_flags.buffer.buffer.is_some() {
        crate::s3::refuse_unused(
            &crate::cli::S3Args {
                buffer: s3_flags.buffer.clone(),
                ..Default::default()
            },
            "-o s3://BUCKET/KEY",
        )?;
    }
    if s3_out.is_none() {
        refuse_terminal_stdout(&args.out.output)?;
    }
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
        crate::s3::local_only(p, "key files are read locally")?;
        warn_if_shared(p);
        let key = LocalKey::load(p, be).with_context(|| format!("key file {}", p.display()))?;
        if !add_local.iter().any(|k| k.key_id() == key.key_id()) {
            add_local.push(key);
        }
    }
    let add_kms_names = unique_kms_keys("--add-kms-key", &args.add_kms_keys);
    let s3 = if s3_in.is_some() || s3_out.is_some() {
        let c = crate::s3::client(&args.unwrap.aws, &s3_flags)?;
        report.s3(&c);
        Some(c)
    } else {
        None
    };
    let object = match (&s3_in, &s3) {
        (Some(url), Some(s3)) => Some(crate::s3::open_object(s3, url)?),
        _ => None,
    };
    let rekeyed = with_unwrap_keys(&args.unwrap, be, !add_kms_names.is_empty(), |refs, kms| {
        let (input, size) = match &object {
            Some((obj, header)) => (
                Input::S3(Box::new(obj.reader(&BodyLayout::new(header), obj.size()))),
                Some(obj.size()),
            ),
            None => {
                let f = open_sealed_input(&input_path)?;
                let size = input_size(&f);
                (Input::File(f), size)
            }
        };
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
    for k in rekeyed.already_wrapped() {
        eprintln!("envstream: note: {k} already wraps the data key; it is kept as it is");
    }
    if rekeyed.changes_nothing() {
        return Err(UsageError(
            "nothing to change: every key to add already wraps the data key and none is removed, so no new file was written".into(),
        )
        .into());
    }
    let header = rekeyed.header().clone();
    report.header(&header, key_ids(&header));
    if let (Some((obj, old)), Some(url), Some(s3)) = (&object, &s3_out, &s3) {
        // S3 to S3: the body is copied inside S3; only the first part (the
        // new header and the start of the body) crosses the network.
        let upload = Upload::new(
            s3.clone(),
            url.clone(),
            UploadOptions {
                schedule: PartSchedule::Growing,
                overwrite: args.out.force,
            },
        )?;
        let _registered = upload
            .abort_handle()
            .map(crate::signals::AbortOnSignal::new);
        let new_header = header.to_bytes();
        let moved = envstream_s3::blocking::rekey_copy(obj, old.len() as u64, &new_header, upload)?;
        let body = obj.size() - old.len() as u64;
        // The same meaning as a local rekey: the whole sealed input, and
        // the whole sealed output (the network traffic is in `s3`).
        report.set_input(obj.size());
        report.add_output(new_header.len() as u64 + body);
        report.stats(BodyLayout::new(&header).chunk_count(body));
        report.clear_progress();
        eprintln!(
            "envstream: rekeyed {} to {url}: {} bytes (a {}-byte header and the {body}-byte body); {} bytes uploaded and {} downloaded (the new header and the first part of the body), {} copied inside S3, {} requests",
            obj.url(),
            new_header.len() as u64 + body,
            new_header.len(),
            moved.bytes_up,
            moved.bytes_down,
            moved.bytes_copied,
            moved.requests
        );
        return Ok(());
    }
    let out = match (&s3_out, &s3) {
        (Some(url), Some(s3)) => Output::s3(Upload::new(
            s3.clone(),
            url.clone(),
            UploadOptions {
                schedule: PartSchedule::Growing,
                overwrite: args.out.force,
            },
        )?),
        _ => Output::File(Sink::open(&args.out.output, args.out.force)?),
    };
    let mut out = out;
    let label = output_label(&args.out.output);
    let written = rekeyed
        .write_to(report.count_output(&mut out, &label))
        .map(|(_, body)| body);
    let body = match written {
        Ok(body) => body,
        Err(e) => return Err(out.abandon(e.into())),
    };
    report.stats(BodyLayout::new(&header).chunk_count(body));
    out.commit()
}
