fn main() {
    for a in std::env::args().skip(1) {
        let bytes = std::fs::read(&a).unwrap();
        match choreoc::syntax::parse_bytes(&bytes) {
            Ok(f) => println!(
                "{a}: ok, {} protocols, {} stmts",
                f.protocols.len(),
                f.protocols.iter().map(|p| p.body.len()).sum::<usize>()
            ),
            Err(d) => {
                let sf = choreoc::diag::SourceFile::new(
                    a.clone(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
                for d in d {
                    println!("{}", choreoc::diag::render_human(&d, &sf, false));
                }
            }
        }
    }
}
