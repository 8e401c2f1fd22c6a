//! The command line (clap). (STUB: being written.)

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "thetorrent",
    version,
    about = "A self-hosted store for .torrent files"
)]
pub struct Cli {
    /// Data directory.
    #[arg(long, global = true, default_value = "./data")]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the store over HTTP.
    Serve(crate::server::ServeArgs),
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match crate::server::serve(cli.data, args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("thetorrent: {e}");
                1
            }
        },
    }
}
