use std::process::ExitCode;

use grantcheck::cli::Cli;
use grantcheck::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            };
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("grantcheck: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    match runtime.block_on(grantcheck::run(cli)) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("grantcheck: {failure}");
            failure.exit.into()
        }
    }
}
