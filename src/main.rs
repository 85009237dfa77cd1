//! The `corscope` binary: parse the command line and hand over to the library.

use clap::Parser;

// The proxy and the engine allocate and free many small buffers per exchange on every
// worker thread; with mimalloc's thread-local free lists corscope carried 0.44-0.47x of
// direct throughput to 0.55-0.57x for 1 KB at c=50 (glibc's malloc and free were nearly
// as much user time as corscope's own code).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = corscope::cli::Cli::parse();
    match corscope::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("corscope: {err:#}");
            std::process::exit(2);
        }
    }
}
