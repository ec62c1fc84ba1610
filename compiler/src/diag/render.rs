//! Rendering diagnostics: miette's graphical report for people at a terminal
//! (feature `fancy`), plain text for build scripts and logs, JSON lines for
//! tools, and GitHub Actions workflow commands for CI annotations.

use super::{Diagnostic, Severity, SourceFile};

/// Renders one diagnostic as miette's graphical report.
#[cfg(feature = "fancy")]
pub fn render_human(diag: &Diagnostic, file: &SourceFile, color: bool) -> String {
    use miette::{
        GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource,
    };
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

/// Renders one diagnostic as plain text, no colour and no box drawing:
/// `file:line:column: error[E0101]: message`, the source line with the
/// primary span underlined, each secondary label as `file:line:column: note:`,
/// and the help line. Every line ends with a newline.
pub fn render_plain(diag: &Diagnostic, file: &SourceFile) -> String {
    let at = file.line_col(diag.primary.span.start);
    let mut out = format!(
        "{}:{}:{}: {}[{}]: {}\n",
        file.name(),
        at.line,
        at.column,
        diag.severity().as_str(),
        diag.code.as_str(),
        diag.message
    );
    if let Some(line) = file.text().lines().nth(at.line - 1) {
        let end = file.line_col(diag.primary.span.end);
        let width = if end.line == at.line {
            end.column.saturating_sub(at.column).max(1)
        } else {
            line.chars().count().saturating_sub(at.column - 1).max(1)
        };
        let gutter = at.line.to_string().len();
        out += &format!("{:gutter$} |\n", "");
        out += &format!("{} | {line}\n", at.line);
        out += &format!(
            "{:gutter$} | {}{} {}\n",
            "",
            " ".repeat(at.column - 1),
            "^".repeat(width),
            diag.primary.message
        );
    }
    for label in &diag.secondary {
        let lc = file.line_col(label.span.start);
        out += &format!(
            "{}:{}:{}: note: {}\n",
            file.name(),
            lc.line,
            lc.column,
            label.message
        );
    }
    if let Some(help) = &diag.help {
        out += &format!("help: {help}\n");
    }
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

/// Renders one diagnostic as a GitHub Actions workflow command
/// (`::error file=F,line=L,col=C,endColumn=E,title=choreoc E0101::message`),
/// which the Actions runner shows as an annotation on that line of the file.
/// The help line, if any, follows the message on a line of its own. A span
/// over several lines is annotated at its first line (the runner accepts
/// columns only within one line).
pub fn render_github(diag: &Diagnostic, file: &SourceFile) -> String {
    let at = file.line_col(diag.primary.span.start);
    let end = file.line_col(diag.primary.span.end);
    let command = match diag.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let end_column = if end.line == at.line {
        format!(",endColumn={}", end.column.max(at.column))
    } else {
        String::new()
    };
    let message = match &diag.help {
        Some(help) => format!("{}\nhelp: {help}", diag.message),
        None => diag.message.clone(),
    };
    format!(
        "::{command} file={},line={},col={}{end_column},title={}::{}",
        github_property(file.name()),
        at.line,
        at.column,
        github_property(&format!("choreoc {}", diag.code.as_str())),
        github_data(&message)
    )
}

/// A workflow command's message: `%`, CR and LF escaped.
fn github_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as a message, plus `:` and `,`.
fn github_property(s: &str) -> String {
    github_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Span};

    fn sample() -> (Diagnostic, SourceFile) {
        let file = SourceFile::new(
            "dir,with:odd%name.choreo",
            "protocol P =\n  roles A, B\n  A -> C : Hi\n",
        );
        let d = Diagnostic::new(
            Code::UndeclaredRole,
            "role `C` is not declared",
            Span::new(33, 34),
            "not in `roles`",
        )
        .with_label(Span::new(21, 22), "roles are declared here")
        .with_help("did you mean `B`?\nor declare it");
        (d, file)
    }

    #[test]
    fn github_commands_escape_their_properties_and_message() {
        let (d, file) = sample();
        assert_eq!(
            render_github(&d, &file),
            "::error file=dir%2Cwith%3Aodd%25name.choreo,line=3,col=8,endColumn=9,\
             title=choreoc E0101::role `C` is not declared%0Ahelp: did you mean `B`?%0Aor declare it"
        );
    }

    #[test]
    fn plain_text_names_file_line_and_column() {
        let (d, file) = sample();
        assert_eq!(
            render_plain(&d, &file),
            "dir,with:odd%name.choreo:3:8: error[E0101]: role `C` is not declared\n  \
             |\n3 |   A -> C : Hi\n  |        ^ not in `roles`\n\
             dir,with:odd%name.choreo:2:9: note: roles are declared here\n\
             help: did you mean `B`?\nor declare it\n"
        );
    }
}
