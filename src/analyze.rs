//! `corscope analyze FILE.har [--profile P] [--json]`: import a HAR, run the engine over it,
//! print one row (or one JSON object) per entry; with `--har OUT`, also write the entries
//! with their verdicts as a corscope HAR. Exit status 0 once the file was read, whatever
//! the verdicts; 2 when the file is not a HAR or the output cannot be written.

use crate::cli::AnalyzeArgs;
use crate::cors::{self, Profile, Verdict};
use crate::har::import::{import_slice, Imported};
use std::io::Write;

/// Exit status when the input cannot be read as HAR.
pub const EXIT_MALFORMED: i32 = 2;

/// Errors of the analyze command.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Write(#[from] std::io::Error),
}

/// Run the command, writing results to `out` and skipped-entry notes to `err`.
pub fn run_to(
    args: &AnalyzeArgs,
    profile: Profile,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, AnalyzeError> {
    let path = args.file.display().to_string();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(source) => {
            writeln!(err, "corscope: cannot read {path}: {source}")?;
            return Ok(EXIT_MALFORMED);
        }
    };
    let imported = match import_slice(&bytes) {
        Ok(i) => i,
        Err(source) => {
            writeln!(err, "corscope: {path} is not a readable HAR file: {source}")?;
            return Ok(EXIT_MALFORMED);
        }
    };
    for e in &imported.errors {
        writeln!(
            err,
            "corscope: {path}: skipped entry {}: {}",
            e.index, e.message
        )?;
    }
    let mut cfg = cors::Config::new(profile);
    cfg.credentials_visible = !imported.strips_credentials();
    let verdicts = cors::analyze_with(&imported.exchanges, cfg);
    if let Some(out_path) = &args.har {
        if let Err(e) = export_har(&imported, &verdicts, profile, args, out_path) {
            writeln!(err, "corscope: {e}")?;
            return Ok(EXIT_MALFORMED);
        }
    }
    if args.json {
        write_json(&imported, &verdicts, out)?;
    } else {
        write_table(&imported, &verdicts, out)?;
    }
    out.flush()?;
    Ok(0)
}

fn export_har(
    imported: &Imported,
    verdicts: &[Verdict],
    profile: Profile,
    args: &AnalyzeArgs,
    path: &std::path::Path,
) -> Result<(), crate::har::export::ExportError> {
    let exchanges: Vec<std::sync::Arc<crate::capture::Exchange>> = imported
        .exchanges
        .iter()
        .cloned()
        .map(std::sync::Arc::new)
        .collect();
    let by_id: std::collections::HashMap<u64, std::sync::Arc<Verdict>> = verdicts
        .iter()
        .map(|v| (v.exchange, std::sync::Arc::new(v.clone())))
        .collect();
    let har = crate::har::export::build(
        &exchanges,
        |id| by_id.get(&id).cloned(),
        profile,
        &crate::har::export::ExportOptions {
            credentials_stripped: imported.strips_credentials(),
            ..args.export.options()
        },
    );
    crate::har::export::write_atomic(path, &har)
}

/// Run the command on the process's stdout / stderr.
pub fn run(args: &AnalyzeArgs, profile: Profile) -> Result<i32, AnalyzeError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    run_to(args, profile, &mut out, &mut err)
}

fn write_json(imp: &Imported, verdicts: &[Verdict], out: &mut dyn Write) -> std::io::Result<()> {
    let mut vi = verdicts.iter().peekable();
    let mut ei = imp.errors.iter().peekable();
    for index in 0..imp.entry_count {
        if let Some(v) = vi.next_if(|v| v.exchange == index as u64) {
            serde_json::to_writer(&mut *out, v)?;
        } else if let Some(e) = ei.next_if(|e| e.index == index) {
            let obj = serde_json::json!({
                "entry": index, "kind": null, "verdict": "unknown", "stage": null,
                "paired_with": null, "chrome_message": null, "firefox_reason": null,
                "diff": [], "fix": null, "lints": [], "error": e.message,
            });
            serde_json::to_writer(&mut *out, &obj)?;
        } else {
            continue;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn write_table(imp: &Imported, verdicts: &[Verdict], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>5}  {:<18} {:<8} {:<60} REASON",
        "ENTRY", "VERDICT", "METHOD", "ORIGIN → URL"
    )?;
    let mut blocked = 0usize;
    for v in verdicts {
        let label = match v.outcome.stage() {
            Some(stage) => {
                blocked += 1;
                format!("blocked@{}", format!("{stage:?}").to_ascii_lowercase())
            }
            None => v.outcome.label().to_owned(),
        };
        let route = format!("{} → {}", v.origin.as_deref().unwrap_or("-"), v.url);
        let reason = match (&v.chrome_message, v.outcome) {
            (Some(m), _) => m
                .split_once("CORS policy: ")
                .map_or(m.as_str(), |(_, r)| r)
                .to_owned(),
            _ => v.explanation.clone(),
        };
        writeln!(
            out,
            "{:>5}  {:<18} {:<8} {:<60} {}",
            v.exchange,
            label,
            truncate(&v.method, 8),
            truncate(&route, 60),
            reason
        )?;
    }
    writeln!(
        out,
        "\n{} entries, {} analysed, {} blocked, {} skipped",
        imp.entry_count,
        verdicts.len(),
        blocked,
        imp.errors.len()
    )
}
