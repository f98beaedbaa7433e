//! The `v2client` binary: see `cli.rs` for the commands.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    v2client::cli::main().await
}
