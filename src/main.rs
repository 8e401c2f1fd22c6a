//! The `thetorrent` binary: the command line of `cli`, and its exit code.

fn main() {
    std::process::exit(thetorrent::cli::main());
}
