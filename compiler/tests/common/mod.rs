//! Helpers shared by the integration tests.

use choreoc::driver::Unit;

/// Every diagnostic of `unit`, one per line, as `line:col CODE message`.
pub fn listing(unit: &Unit) -> String {
    unit.diagnostics
        .iter()
        .map(|d| {
            let lc = unit.file.line_col(d.primary.span.start);
            format!(
                "  {}:{} {} {}\n",
                lc.line,
                lc.column,
                d.code.as_str(),
                d.message
            )
        })
        .collect()
}
