//! Rendering diagnostics for people (miette) and for tools (JSON lines).

use super::{Diagnostic, Severity, SourceFile};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

/// Renders one diagnostic as miette's graphical report.
pub fn render_human(diag: &Diagnostic, file: &SourceFile, color: bool) -> String {
    let span = |s: super::Span| (s.start, s.end.saturating_sub(s.start));
    let mut labels = vec![LabeledSpan::new_primary_with_span(
        Some(diag.primary.message.clone()),
        span(diag.primary.span),
    )];
    labels.extend(
        diag.secondary
            .iter()
            .map(|l| LabeledSpan::new_with_span(Some(l.message.clone()), span(l.span))),
    );
    let mut report = MietteDiagnostic::new(diag.message.clone())
        .with_code(diag.code.as_str())
        .with_severity(match diag.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
        .with_labels(labels);
    if let Some(help) = &diag.help {
        report = report.with_help(help.clone());
    }
    let report = miette::Report::new(report)
        .with_source_code(NamedSource::new(file.name(), file.text().to_string()));
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .render_report(&mut out, report.as_ref());
    out
}

/// Renders one diagnostic as a single line of JSON.
pub fn render_json(diag: &Diagnostic, file: &SourceFile) -> String {
    let at = file.line_col(diag.primary.span.start);
    let end = file.line_col(diag.primary.span.end);
    serde_json::json!({
        "code": diag.code.as_str(),
        "severity": diag.severity().as_str(),
        "message": diag.message,
        "file": file.name(),
        "line": at.line,
        "column": at.column,
        "end_line": end.line,
        "end_column": end.column,
        "label": diag.primary.message,
        "help": diag.help,
    })
    .to_string()
}
