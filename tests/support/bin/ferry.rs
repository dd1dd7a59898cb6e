//! The `ferry` CLI, built inside the test package so integration tests can
//! spawn it (and kill it) as a real process.

fn main() -> std::process::ExitCode {
    ferry::main()
}
