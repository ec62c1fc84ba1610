//! Compiles `protocols/squares.choreo` into `$OUT_DIR/squares.rs`. Cargo
//! reruns this only when a file under `protocols/` changes; an error in a
//! protocol fails the build with its file, line and column.

fn main() -> Result<(), choreoc_build::Error> {
    choreoc_build::configure().compile(["protocols"])?;
    Ok(())
}
