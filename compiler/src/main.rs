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
    // mimalloc (as built here) returns freed memory to the kernel 1 s after
    // it is freed; the front end frees each parsed piece as it is checked,
    // so a 50,000-statement check then peaks at ~80 MB resident, and with a
    // 3 ms delay at ~60 MB, at the same speed (0 ms purges at every free and
    // costs time).
    // MIMALLOC_PURGE_DELAY in the environment still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an option value.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 3);
        }
    }
    std::process::exit(cli::run());
}

/// mimalloc 2's `mi_option_purge_delay` (the -sys crate names no constant
/// for it: `mi_option_eager_commit_delay` is 14, `mi_option_use_numa_nodes` 16).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

// The front end allocates many small nodes; mimalloc makes a 50,000-statement
// check about a fifth faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
