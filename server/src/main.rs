//! The `palisade` binary: the console and the command line.

fn main() -> std::process::ExitCode {
    palisade_server::cli::main()
}
