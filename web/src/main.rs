//! The `forlob` command: serve, validate, test, deploy, diagram, schema, migrate, bench.

mod cli;

use clap::Parser;

/// The engine allocates many small, short-lived values (rows, JSON, CEL activations); glibc's
/// malloc spent a fifth of the daily run on them (docs/benchmarks.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // Before the runtime starts its threads: they inherit the CPU, and tokio sizes its pool
    // by the CPUs the process may use (web/src/affinity.rs).
    let config = match cli::prepare(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("forlob: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("forlob: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("forlob: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
