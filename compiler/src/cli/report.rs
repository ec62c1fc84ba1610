//! The options every verb shares for its output (`--error-format`,
//! `--color`, `-q`), and the [`Reporter`] that prints diagnostics and notes
//! accordingly.

use choreoc::diag::{render_github, render_human, render_json, Diagnostic, Severity, SourceFile};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};

/// Exit code: usage or I/O error.
pub const USAGE: i32 = 2;

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    /// For people: a report with the source line, to standard error.
    Human,
    /// For tools: one JSON object per line, to standard output.
    Json,
    /// For GitHub Actions: `::error file=..,line=..,col=..::message` workflow
    /// commands, to standard output, which become annotations on the lines.
    Github,
}

/// When diagnostics are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// When standard error is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Output options, accepted by every verb (before or after its name).
#[derive(Args, Clone, Debug)]
pub struct OutputArgs {
    /// How to print diagnostics.
    #[arg(long, value_enum, global = true, default_value_t = ErrorFormat::Human, help_heading = "Output")]
    pub error_format: ErrorFormat,
    /// Colour in human diagnostics.
    #[arg(long, value_enum, global = true, default_value_t = Color::Auto, value_name = "WHEN", help_heading = "Output")]
    pub color: Color,
    /// Print only diagnostics and the requested output: no summaries.
    #[arg(short, long, global = true, help_heading = "Output")]
    pub quiet: bool,
}

/// Prints diagnostics, notes and usage errors, and counts what it printed.
pub struct Reporter {
    format: ErrorFormat,
    color: bool,
    quiet: bool,
    /// Errors printed so far.
    pub errors: usize,
    /// Warnings printed so far.
    pub warnings: usize,
}

impl Reporter {
    /// A reporter for the given options.
    pub fn new(args: &OutputArgs) -> Self {
        let color = match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Reporter {
            format: args.error_format,
            color,
            quiet: args.quiet,
            errors: 0,
            warnings: 0,
        }
    }

    /// The chosen diagnostic format.
    pub fn format(&self) -> ErrorFormat {
        self.format
    }

    /// Whether human diagnostics are coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Prints the diagnostics of one file; returns how many are errors.
    pub fn diagnostics(&mut self, file: &SourceFile, diags: &[Diagnostic]) -> usize {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        let mut errors = 0;
        for d in diags {
            match d.severity() {
                Severity::Error => errors += 1,
                Severity::Warning => self.warnings += 1,
            }
            let _ = match self.format {
                ErrorFormat::Human => write!(err, "{}", render_human(d, file, self.color)),
                ErrorFormat::Json => writeln!(out, "{}", render_json(d, file)),
                ErrorFormat::Github => writeln!(out, "{}", render_github(d, file)),
            };
        }
        self.errors += errors;
        errors
    }

    /// Prints a summary or progress line to standard error, unless `-q` or a
    /// machine format was chosen.
    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet && self.format == ErrorFormat::Human {
            eprintln!("{message}");
        }
    }

    /// Prints a usage or I/O error to standard error; returns exit code 2.
    pub fn usage(&self, message: impl std::fmt::Display) -> i32 {
        eprintln!("error: {message}");
        USAGE
    }
}
