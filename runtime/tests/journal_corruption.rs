//! A damaged journal file is a typed error naming the file, never a panic,
//! and never opens with intact facts silently missing.

use std::path::Path;

use choreo_runtime::journal::{Fact, Journal, JournalError, NewFact};
use choreo_runtime::transport::contract::{NodeId, SessionId};

const FACTS: u64 = 300;

fn origin() -> NodeId {
    NodeId::new("a")
}

/// A journal file with `FACTS` facts (in groups of 1 and 10) and what it holds.
fn make_journal(path: &Path) -> Vec<Fact> {
    let journal = Journal::open(path, origin()).expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut n = 0;
        while n < FACTS {
            let size = if n % 20 == 0 { 10 } else { 1 };
            let facts = (n..n + size)
                .map(|i| {
                    NewFact::new(
                        SessionId([1; 16]),
                        "K::Fact",
                        format!("fact {i}").into_bytes(),
                    )
                })
                .collect();
            journal.append(facts).await.expect("append");
            n += size;
        }
    });
    journal.since(&origin(), 0, usize::MAX).expect("facts")
}

/// Opens the damaged file: either a typed error naming it (and the file left
/// exactly as it was), or a journal holding every original fact.
fn open_damaged(path: &Path, original: &[Fact], what: &str) -> Result<(), JournalError> {
    let before = std::fs::read(path).expect("read");
    match Journal::open(path, origin()) {
        Err(e) => {
            let name = path.display().to_string();
            assert!(
                e.to_string().contains(&name),
                "{what}: error does not name the file: {e}"
            );
            assert!(
                matches!(e, JournalError::Corrupted { .. }),
                "{what}: not reported as corruption: {e:?}"
            );
            assert_eq!(
                std::fs::read(path).expect("read"),
                before,
                "{what}: failed open changed the file"
            );
            Err(e)
        }
        Ok(journal) => {
            let facts = journal.since(&origin(), 0, usize::MAX).expect("facts");
            assert_eq!(facts, original, "{what}: opened with facts lost or changed");
            assert_eq!(journal.head(&origin()).expect("head"), FACTS, "{what}");
            Ok(())
        }
    }
}

#[test]
fn a_truncated_file_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.journal");
    let original = make_journal(&path);
    let bytes = std::fs::read(&path).expect("read");
    let len = bytes.len();
    let damaged = dir.path().join("damaged.journal");
    let cuts = [
        0,
        1,
        64,
        100,
        511,
        4096,
        8191,
        len / 3,
        len / 2,
        len - 4096,
        len - 100,
        len - 1,
    ];
    for cut in cuts {
        std::fs::write(&damaged, &bytes[..cut]).expect("write");
        let result = open_damaged(&damaged, &original, &format!("truncated to {cut} of {len}"));
        assert!(result.is_err(), "truncated to {cut} of {len}: opened");
    }
}

#[test]
fn garbage_appended_is_an_error_or_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.journal");
    let original = make_journal(&path);
    let bytes = std::fs::read(&path).expect("read");
    let damaged = dir.path().join("damaged.journal");
    let mut errors = 0;
    for extra in [1usize, 7, 100, 4095, 4096, 4097, 8192, 65_539] {
        let mut file = bytes.clone();
        file.extend((0..extra).map(|i| (i * 131 % 251) as u8 ^ 0x5a));
        std::fs::write(&damaged, &file).expect("write");
        let what = format!("{extra} bytes of garbage appended");
        match open_damaged(&damaged, &original, &what) {
            Err(_) => errors += 1,
            // Whole pages of garbage look like the tail a crash can leave while
            // the file grows; the store drops them and every fact is intact.
            Ok(()) => assert_eq!(extra % 4096, 0, "{what}: opened without an error"),
        }
    }
    assert!(
        errors >= 5,
        "only {errors} of 8 damaged files were reported"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_corrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.journal");
    std::fs::write(
        &text,
        "this is not a journal, just some text that is long enough\n".repeat(200),
    )
    .expect("write");
    let err = Journal::open(&text, origin()).expect_err("text file");
    assert!(matches!(err, JournalError::Corrupted { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.journal"), "{err}");
}

#[test]
fn a_database_that_is_not_a_journal_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let txn = db.begin_write().expect("write");
        let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("something");
        txn.open_table(table)
            .expect("table")
            .insert("x", 1)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let err = Journal::open(&path, origin()).expect_err("not a journal");
    assert!(matches!(err, JournalError::NotAJournal { .. }), "{err:?}");
    assert!(err.to_string().contains("other.redb"), "{err}");
}
