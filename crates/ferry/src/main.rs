//! The `ferry` executable; everything lives in the library (see `lib.rs`).
//!
//! jemalloc replaces the system allocator here, in the binary only: a relay
//! under load makes many small, short-lived allocations per message (request
//! parsing, Redis replies, JSON), and glibc's malloc spent about a fifth of
//! the process's CPU on them in profiles of `ferry bench`, against a few
//! percent with jemalloc's per-thread caches. Libraries and tests keep the
//! default allocator.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    ferry::main()
}
