//! `thetorrent serve`: wires the store to the HTTP layer and routes requests.
//! (STUB: being written.)

use std::path::PathBuf;

/// Options of `thetorrent serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (IPv4 or IPv6), may be repeated.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: Vec<String>,
}

/// Runs the server until SIGTERM. `data` is the data directory.
pub fn serve(_data: PathBuf, _args: ServeArgs) -> Result<(), String> {
    Err("serve is not implemented yet".into())
}
