//! Printing findings: for people (miette, the new version's text with the
//! old one's shown after it; feature `fancy`), as JSON lines, and as GitHub
//! workflow commands.

use super::{Category, Finding, Site};
use crate::diag::SourceFile;
#[cfg(feature = "fancy")]
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

/// How serious a finding is reported, given what the user allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Makes the command fail.
    Error,
    /// Reported, accepted.
    Warning,
}

impl Level {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// The level of `f` when API breaks are allowed (`allow_api`) or not.
pub fn level(f: &Finding, allow_api: bool) -> Level {
    match f.category {
        Category::Wire => Level::Error,
        Category::Api if !allow_api => Level::Error,
        _ => Level::Warning,
    }
}

fn title(f: &Finding) -> String {
    match &f.role {
        Some(r) => format!(
            "{} ({}, role `{r}`): {}",
            f.protocol,
            f.category.as_str(),
            f.message
        ),
        None => format!("{} ({}): {}", f.protocol, f.category.as_str(), f.message),
    }
}

#[cfg(feature = "fancy")]
fn report(
    message: String,
    code: Option<&str>,
    severity: miette::Severity,
    at: &Site,
    file: &SourceFile,
    help: Option<&String>,
    color: bool,
) -> String {
    let len = at.span.end.saturating_sub(at.span.start);
    let mut d = MietteDiagnostic::new(message)
        .with_severity(severity)
        .with_labels([LabeledSpan::new_primary_with_span(
            Some(at.label.clone()),
            (at.span.start, len),
        )]);
    if let Some(code) = code {
        d = d.with_code(code);
    }
    if let Some(help) = help {
        d = d.with_help(help.clone());
    }
    let report = miette::Report::new(d)
        .with_source_code(NamedSource::new(file.name(), file.text().to_string()));
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let _ = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .render_report(&mut out, report.as_ref());
    out
}

/// Renders `f` for people: the change at its place in the new version, then
/// the same place in the old version.
#[cfg(feature = "fancy")]
pub fn human(
    f: &Finding,
    level: Level,
    new: &[SourceFile],
    old: &[SourceFile],
    color: bool,
) -> String {
    let severity = match level {
        Level::Error => miette::Severity::Error,
        Level::Warning => miette::Severity::Warning,
    };
    let code = Some(f.category.code().as_str());
    let pick = |site: &Option<Site>, files: &'_ [SourceFile]| -> Option<(Site, SourceFile)> {
        let site = site.as_ref()?;
        Some((site.clone(), files.get(site.file)?.clone()))
    };
    let help = f.help.as_ref();
    match (pick(&f.new, new), pick(&f.old, old)) {
        (Some((n, nf)), o) => {
            let mut out = report(title(f), code, severity, &n, &nf, help, color);
            if let Some((o, of)) = o {
                let advice = miette::Severity::Advice;
                out.push_str(&report(
                    "in the old version".into(),
                    None,
                    advice,
                    &o,
                    &of,
                    None,
                    color,
                ));
            }
            out
        }
        (None, Some((o, of))) => report(title(f), code, severity, &o, &of, help, color),
        (None, None) => format!("{}: {}\n", level.as_str(), title(f)),
    }
}

fn place(site: &Site, files: &[SourceFile]) -> Option<serde_json::Value> {
    let file = files.get(site.file)?;
    let (a, b) = (file.line_col(site.span.start), file.line_col(site.span.end));
    Some(serde_json::json!({
        "file": file.name(),
        "line": a.line,
        "column": a.column,
        "end_line": b.line,
        "end_column": b.column,
        "label": site.label,
    }))
}

/// Renders `f` as one line of JSON: the fields of `check`'s diagnostics for
/// the place in the new version (or the old one for what was removed), plus
/// `category`, `protocol`, `role` and `old` (the place in the old version).
pub fn json(f: &Finding, level: Level, new: &[SourceFile], old: &[SourceFile]) -> String {
    let here = f
        .new
        .as_ref()
        .and_then(|s| place(s, new))
        .or_else(|| f.old.as_ref().and_then(|s| place(s, old)))
        .unwrap_or(serde_json::Value::Null);
    let get = |k: &str| here.get(k).cloned().unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "code": f.category.code().as_str(),
        "severity": level.as_str(),
        "category": f.category.as_str(),
        "protocol": f.protocol,
        "role": f.role,
        "message": f.message,
        "file": get("file"),
        "line": get("line"),
        "column": get("column"),
        "end_line": get("end_line"),
        "end_column": get("end_column"),
        "label": get("label"),
        "help": f.help,
        "old": f.old.as_ref().and_then(|s| place(s, old)),
    })
    .to_string()
}

/// Renders `f` as a GitHub Actions workflow command (`::error file=...::...`),
/// at its place in the new version (or the old one for what was removed).
pub fn github(f: &Finding, level: Level, new: &[SourceFile], old: &[SourceFile]) -> String {
    let escape = |s: &str, prop: bool| {
        let s = s
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        if prop {
            s.replace(':', "%3A").replace(',', "%2C")
        } else {
            s
        }
    };
    let at = f
        .new
        .as_ref()
        .map(|s| (s, new))
        .or_else(|| f.old.as_ref().map(|s| (s, old)));
    let mut props = Vec::new();
    if let Some((site, files)) = at {
        if let Some(file) = files.get(site.file) {
            let (a, b) = (file.line_col(site.span.start), file.line_col(site.span.end));
            props.push(format!("file={}", escape(file.name(), true)));
            props.push(format!("line={}", a.line));
            props.push(format!("col={}", a.column));
            props.push(format!("endLine={}", b.line));
            props.push(format!("endColumn={}", b.column));
        }
    }
    props.push(format!(
        "title={}",
        escape(
            &format!("{} {}", f.category.code().as_str(), f.category.as_str()),
            true
        )
    ));
    let mut message = title(f);
    if let Some(help) = &f.help {
        message.push('\n');
        message.push_str(help);
    }
    format!(
        "::{} {}::{}",
        level.as_str(),
        props.join(","),
        escape(&message, false)
    )
}
