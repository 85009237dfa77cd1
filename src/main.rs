//! The `corscope` binary: parse the command line and hand over to the library.

use clap::Parser;

// The proxy and the engine allocate and free many small buffers per exchange on every
// worker thread; with mimalloc's thread-local free lists corscope carried 0.44-0.47x of
// direct throughput to 0.55-0.57x for 1 KB at c=50 (glibc's malloc and free were nearly
// as much user time as corscope's own code).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Captured bodies come and go by the hundred megabytes; with transparent huge pages
    // the allocator's fresh memory is faulted in 2 MiB at a time, and the kernel may stop
    // to compact memory for each: a request that lands on one waited milliseconds (p99 of
    // 100 KB HTTP/2 responses at one at a time: 5 ms with them, 0.8-1.1 ms without).
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = corscope::cli::Cli::parse();
    match corscope::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("corscope: {err:#}");
            std::process::exit(2);
        }
    }
}
