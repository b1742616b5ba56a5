//! The `weir` binary.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use weir::cli::produce::Lines;
use weir::cli::{
    Cli, Command, build, check, deploy, new, produce, reset, run, serve, status, test_cmd,
};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            http_listen,
        } => run::run_with_http(&config, http_listen.as_deref())
            .await
            .map(|_| ()),
        Command::Serve {
            config,
            http_listen,
        } => serve::serve(&config, http_listen.as_deref()).await,
        Command::Status { config, json } => status::status(&config, json).await.map(|report| {
            #[expect(
                clippy::print_stdout,
                reason = "the status report is the command's output"
            )]
            {
                print!("{report}");
            }
        }),
        Command::Produce {
            brokers,
            topic,
            file,
            generate,
            lines,
            rate,
            librdkafka,
        } => {
            let what = match (file, generate.as_deref()) {
                (Some(file), _) => Lines::File(file),
                (None, Some("audit")) => Lines::Audit(lines),
                (None, _) => Lines::Access(lines),
            };
            tokio::task::block_in_place(|| {
                produce::produce(&brokers, &topic, &what, rate, &librdkafka)
            })
            .map(|sent| {
                tracing::info!(sent, topic = %topic, "produced");
            })
        }
        Command::Reset { config, outputs } => reset::reset(&config, outputs).await.map(|report| {
            #[expect(
                clippy::print_stdout,
                reason = "the reset report is the command's output"
            )]
            {
                print!("{report}");
            }
        }),
        Command::Test(args) => test_cmd::test(&args).await,
        Command::New(args) => new::new(&args).map(report),
        Command::Build(args) => tokio::task::block_in_place(|| build::build(&args)).map(report),
        Command::Deploy(args) => tokio::task::block_in_place(|| deploy::deploy(&args)).map(report),
        Command::Check { config } => check::check(&config).map(|report| {
            #[expect(
                clippy::print_stdout,
                reason = "the check report is the command's output"
            )]
            {
                print!("{report}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            #[expect(clippy::print_stderr, reason = "the error is the command's output")]
            {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's report.
fn report(text: String) {
    #[expect(clippy::print_stdout, reason = "the report is the command's output")]
    {
        print!("{text}");
    }
}
