//! The `corscope` binary: parse the command line and hand over to the library.

use clap::Parser;

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
