//! The `earshot` binary: everything is in the library; see `earshot --help`.

fn main() -> std::process::ExitCode {
    earshot::cli::main()
}
