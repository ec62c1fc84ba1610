//! The `choreoc` command line: a thin layer over the library.

mod cli;

fn main() {
    // mimalloc asks for transparent huge pages where the kernel allows it
    // (`madvise`), so a 2 MiB page is resident for its first byte: checking a
    // 50,000-statement file then peaks at ~110 MB resident instead of ~75 MB,
    // at no gain in speed. Opt this process out (later page faults honour it).
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and changes
    // only how the kernel backs this process's memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    std::process::exit(cli::run());
}

// The front end allocates many small nodes; mimalloc makes a 50,000-statement
// check about a fifth faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
